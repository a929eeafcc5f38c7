"""How fast are our normalisation layers next to PyTorch's native kernels?

Times one training step's worth of work, forward plus backward (input, weight
and bias gradients), for batch norm 1d/2d and layer norm at a few shapes met in
practice: ours through the reference path (equations on primitives, autograd
backward), ours through the fast path (hand-derived backward), and torch.nn's
module. Each timing is the median of several repeats, each repeat the mean over
a block of calls. Ratios are ours / torch, so 1.0 is parity and larger is
slower.

A second table times layer norm's forward alone without autograd, as decoding
runs it: a decoder step's few rows and an encoder batch's many. There the fast
path is the native kernel (nn/layer_norm.cpp).

    python benchmarks/norm_speed.py            # full run
    python benchmarks/norm_speed.py --quick    # a few seconds, rough numbers
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mlnotebook.nn.batch_norm import BatchNorm1d, BatchNorm2d
from mlnotebook.nn.layer_norm import LayerNorm


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    build_ours: Callable[[str], nn.Module]  # path -> our module
    build_torch: Callable[[], nn.Module]


CASES = [
    Case(
        "BatchNorm1d", (256, 512), lambda p: BatchNorm1d(512, path=p), lambda: nn.BatchNorm1d(512)
    ),
    Case(
        "BatchNorm1d",
        (64, 128, 100),
        lambda p: BatchNorm1d(128, path=p),
        lambda: nn.BatchNorm1d(128),
    ),
    Case(
        "BatchNorm2d",
        (32, 64, 32, 32),
        lambda p: BatchNorm2d(64, path=p),
        lambda: nn.BatchNorm2d(64),
    ),
    Case("LayerNorm", (64, 40, 512), lambda p: LayerNorm(512, path=p), lambda: nn.LayerNorm(512)),
    Case("LayerNorm", (256, 1024), lambda p: LayerNorm(1024, path=p), lambda: nn.LayerNorm(1024)),
]


# Layer norm without autograd, d_model 256: greedy and beam decoder steps, an encoder batch.
INFERENCE_SHAPES = [(32, 1, 256), (160, 1, 256), (32, 40, 256)]


def make_forward(module: nn.Module, shape: tuple[int, ...]) -> Callable[[], None]:
    """The forward alone, under torch.no_grad(), in eval mode."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    module.eval()

    def forward() -> None:
        with torch.no_grad():
            module(x)

    return forward


def run_inference(repeats: int, calls: int) -> list[dict]:
    rows = []
    for shape in INFERENCE_SHAPES:
        size = shape[-1]
        forwards = {
            "torch": make_forward(nn.LayerNorm(size), shape),
            "reference": make_forward(LayerNorm(size, path="reference"), shape),
            "fast": make_forward(LayerNorm(size, path="fast"), shape),
        }
        times = time_steps(forwards, repeats, calls * 10)
        rows.append({"module": "LayerNorm", "shape": list(shape), **times})
    return rows


def make_step(module: nn.Module, shape: tuple[int, ...]) -> Callable[[], None]:
    """One training step's normalisation work: forward, then backward to x, weight, bias."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator).requires_grad_(True)
    grad_y = torch.randn(shape, generator=generator)
    module.train()

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad_y)

    return step


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, calls: int) -> dict[str, float]:
    """Median seconds per call for each step function.

    The functions take turns within every repeat, so a burst of load from
    elsewhere on a shared machine hits all of them rather than one.
    """
    for step in steps.values():  # warm-up: allocator, lazy initialisation
        for _ in range(2):
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(calls):
                step()
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(repeats: int, calls: int) -> list[dict]:
    rows = []
    for case in CASES:
        steps = {
            "torch": make_step(case.build_torch(), case.shape),
            "reference": make_step(case.build_ours("reference"), case.shape),
            "fast": make_step(case.build_ours("fast"), case.shape),
        }
        times = time_steps(steps, repeats, calls)
        rows.append({"module": case.name, "shape": list(case.shape), **times})
    return rows


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'module':<12} {'shape':<18} {'torch ms':>9} {'reference ms':>13} {'ratio':>6} "
        f"{'fast ms':>8} {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        torch_ms, ref_ms, fast_ms = (1e3 * row[k] for k in ("torch", "reference", "fast"))
        shape = "[" + ", ".join(map(str, row["shape"])) + "]"
        lines.append(
            f"{row['module']:<12} {shape:<18} {torch_ms:>9.3f} {ref_ms:>13.3f} "
            f"{ref_ms / torch_ms:>6.2f} {fast_ms:>8.3f} {fast_ms / torch_ms:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats: rough numbers, seconds")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median taken)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    repeats = args.repeats or (3 if args.quick else 15)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    calls = 2 if args.quick else 10
    torch.set_num_threads(args.threads)
    print(
        f"forward+backward, train mode, float32, {torch.get_num_threads()} thread(s), "
        f"median of {repeats} repeats x {calls} calls; ratio = ours / torch"
    )
    print(format_table(run(repeats, calls)))
    print("\nforward only, no autograd (decoding), float32; ratio = ours / torch")
    print(format_table(run_inference(repeats, calls)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
