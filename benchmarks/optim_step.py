"""Optimiser step speed: mlnotebook's fused path against torch's own modes.

For each optimiser, at about 10M and 50M parameters (the tensor shapes of a
Transformer, d_model 256 and 512), this times one `step()` of:
  ours (fused=True / foreach=True: the torch.compile path),
  torch's per-tensor loop (foreach=False), torch's foreach=True,
  torch's fused=True (SGD, Adagrad, Adam, AdamW have one on CPU),
interleaved round by round so that machine noise hits every mode alike, and
prints medians, the ratio ours / torch's fastest mode, and the achieved
memory traffic in GB/s against the in-place bandwidth measured in the same
run. Bytes per parameter per step count each tensor read or written once
(Adam: read param, grad, exp_avg, exp_avg_sq; write param, exp_avg,
exp_avg_sq: 7 x 4 bytes in float32).

    python benchmarks/optim_step.py [--quick] [--repeats N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _timing import median_interleaved

import mlnotebook.optim as ours

# name -> (constructor kwargs, state tensors per parameter, torch has fused)
OPTIMISERS: dict[str, tuple[dict, int, bool]] = {
    "SGD": ({"lr": 0.01, "momentum": 0.9}, 1, True),
    "Adagrad": ({}, 1, True),
    "Adadelta": ({}, 2, False),
    "RMSprop": ({}, 1, False),
    "Adam": ({}, 2, True),
    "AdamW": ({}, 2, True),
}


def transformer_shapes(d_model: int, layers: int, vocab: int = 8000) -> list[tuple[int, ...]]:
    """Parameter shapes of an encoder-decoder Transformer with tied embeddings."""
    d, ffn = d_model, 4 * d_model
    attention = [(3 * d, d), (3 * d,), (d, d), (d,)]
    feed_forward = [(ffn, d), (ffn,), (d, ffn), (d,)]
    norm = [(d,), (d,)]
    encoder = attention + feed_forward + 2 * norm
    decoder = 2 * attention + feed_forward + 3 * norm
    return [(vocab, d)] + layers * encoder + layers * decoder + 2 * norm


def inplace_bandwidth(repeats: int) -> float:
    """GB/s of x.mul_(c) on a 1 GiB float32 tensor (reads and writes 8 bytes/element)."""
    x = torch.ones(2**28)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        x.mul_(1.0000001)
        times.append(time.perf_counter() - start)
    return x.numel() * 8 / statistics.median(times) / 1e9


def make_params(shapes: list[tuple[int, ...]], seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        param = torch.nn.Parameter(torch.randn(shape, generator=generator))
        param.grad = torch.randn(shape, generator=generator)
        params.append(param)
    return params


def build_modes(name: str, shapes: list[tuple[int, ...]]) -> dict[str, torch.optim.Optimizer]:
    kwargs, _, has_fused = OPTIMISERS[name]
    fast_flag = {"fused": True} if has_fused else {"foreach": True}
    modes = {
        "ours": getattr(ours, name)(make_params(shapes, 0), **kwargs, **fast_flag),
        "torch loop": getattr(torch.optim, name)(make_params(shapes, 0), **kwargs, foreach=False),
        "torch foreach": getattr(torch.optim, name)(make_params(shapes, 0), **kwargs, foreach=True),
    }
    if has_fused:
        modes["torch fused"] = getattr(torch.optim, name)(
            make_params(shapes, 0), **kwargs, fused=True
        )
    return modes


def bench_one(name: str, shapes: list[tuple[int, ...]], repeats: int) -> dict:
    # The machine's bandwidth drifts (one figure per run gave 41.5, 47.0 and
    # 50.8 GB/s on one day): each row measures its own, just before its timings.
    bandwidth = inplace_bandwidth(max(repeats, 5))
    modes = build_modes(name, shapes)
    for optimizer in modes.values():  # warm-up: lazy state, and compilation for ours
        optimizer.step()
        optimizer.step()
    medians = median_interleaved({mode: opt.step for mode, opt in modes.items()}, repeats)
    n_params = sum(torch.Size(s).numel() for s in shapes)
    # param and grad read, param written, each state tensor read and written
    bytes_moved = n_params * 4 * (3 + 2 * OPTIMISERS[name][1])
    best_torch = min(t for mode, t in medians.items() if mode != "ours")
    ideal = bytes_moved / (bandwidth * 1e9)
    return {
        "optimiser": name,
        "params": n_params,
        "ms": {mode: t * 1e3 for mode, t in medians.items()},
        "ours_over_best_torch": medians["ours"] / best_torch,
        "best_torch_mode": min((t, m) for m, t in medians.items() if m != "ours")[1],
        "ours_gb_per_s": bytes_moved / medians["ours"] / 1e9,
        "ours_over_bandwidth_limit": medians["ours"] / ideal,
        "best_torch_over_bandwidth_limit": best_torch / ideal,
        "bandwidth_gb_per_s": bandwidth,
    }


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="optimiser step, median ms; bw = in-place bandwidth before each row")
    for column in [
        "optimiser",
        "params",
        "ours",
        "torch loop",
        "torch foreach",
        "torch fused",
        "ours / best torch",
        "ours GB/s",
        "ours / bw limit",
        "best torch / bw limit",
        "bw GB/s",
    ]:
        table.add_column(column, justify="right")
    for row in rows:
        ms = row["ms"]
        table.add_row(
            row["optimiser"],
            f"{row['params'] / 1e6:.1f}M",
            *(
                f"{ms[m]:.1f}" if m in ms else "-"
                for m in ["ours", "torch loop", "torch foreach", "torch fused"]
            ),
            f"{row['ours_over_best_torch']:.2f}x",
            f"{row['ours_gb_per_s']:.1f}",
            f"{row['ours_over_bandwidth_limit']:.2f}x",
            f"{row['best_torch_over_bandwidth_limit']:.2f}x",
            f"{row['bandwidth_gb_per_s']:.1f}",
        )
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, few repeats")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", nargs="*", choices=list(OPTIMISERS), help="optimisers to run")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    sizes = [(256, 2)] if args.quick else [(256, 6), (512, 6)]
    repeats = 3 if args.quick else args.repeats
    rows = []
    for d_model, layers in sizes:
        shapes = transformer_shapes(d_model, layers)
        for name in args.only or OPTIMISERS:
            rows.append(bench_one(name, shapes, repeats))
            print(f"{name} {rows[-1]['params'] / 1e6:.1f}M done", flush=True)
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
