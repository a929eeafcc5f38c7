"""How fast is our LSTM, alone and inside the translation models, next to torch.nn.LSTM?

Table 1 times forward + backward (input and every parameter gradient) of one
LSTM at batch 64, 30 steps, input 256, hidden 512: torch.nn.LSTM, our
reference path (one cell per step, one direction at a time) and our fast path
(input projection for all steps in one product, both directions stepped
together). The "padded" rows give every sequence its own length: ours takes
`lengths`, torch gets a PackedSequence.

Table 2 trains the three recurrent translation models (no attention, Luong
general with input feeding, Bahdanau) built once on our LSTM and once on
torch.nn.LSTM (`use_torch_lstm=True`, same weights), on identical random
batches, and reports target tokens per second. One step = forward, cross-entropy,
backward, Adam step.

Every timing is the median over repeats, the variants taking turns within each
repeat so that load from elsewhere on a shared machine hits all of them.
Ratios are ours / torch for times (1.0 is parity, larger is slower) and
ours / torch for tokens per second (smaller is slower).

    python benchmarks/lstm_speed.py            # full run
    python benchmarks/lstm_speed.py --quick    # two LSTM cases, small batches: rough numbers
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mlnotebook.nn.lstm import LSTM
from mlnotebook.nn.rnn_seq2seq import BahdanauSeq2Seq, LuongSeq2Seq, RNNSeq2SeqBase, Seq2Seq

BATCH, STEPS, INPUT, HIDDEN = 64, 30, 256, 512


@dataclass(frozen=True)
class LSTMCase:
    num_layers: int
    bidirectional: bool
    padded: bool

    @property
    def name(self) -> str:
        kind = "bi" if self.bidirectional else "uni"
        return f"{self.num_layers} layer {kind}" + (" padded" if self.padded else "")


LSTM_CASES = [
    LSTMCase(1, False, False),
    LSTMCase(2, False, False),
    LSTMCase(1, True, False),
    LSTMCase(2, True, False),
    LSTMCase(2, True, True),
]


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, sync: Callable[[], None]):
    """Median seconds per call of each step function, the functions taking turns."""
    for step in steps.values():  # warm-up: allocator, lazy initialisation
        for _ in range(2):
            step()
    sync()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            sync()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def lstm_step(module: nn.Module, case: LSTMCase, device: torch.device) -> Callable[[], None]:
    """Forward + backward of one LSTM on a fixed batch (time-major, as torch's default)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, BATCH, INPUT, generator=generator).to(device).requires_grad_(True)
    lengths = torch.randint(STEPS // 3, STEPS + 1, (BATCH,), generator=generator)
    lengths[0] = STEPS
    uses_packing = isinstance(module, nn.LSTM)

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        if not case.padded:
            output, _ = module(x)
        elif uses_packing:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            output, _ = nn.utils.rnn.pad_packed_sequence(module(packed)[0], total_length=STEPS)
        else:
            output, _ = module(x, lengths=lengths)
        output.sum().backward()

    return step


def run_lstm(
    cases: list[LSTMCase], repeats: int, device: torch.device, sync: Callable[[], None]
) -> list[dict]:
    rows = []
    for case in cases:
        torch.manual_seed(0)
        reference = nn.LSTM(INPUT, HIDDEN, case.num_layers, bidirectional=case.bidirectional)
        ours_ref = LSTM(
            INPUT, HIDDEN, case.num_layers, bidirectional=case.bidirectional, fast=False
        )
        ours_fast = LSTM(INPUT, HIDDEN, case.num_layers, bidirectional=case.bidirectional)
        steps = {
            name: lstm_step(module.to(device), case, device)
            for name, module in (("torch", reference), ("reference", ours_ref), ("fast", ours_fast))
        }
        rows.append({"case": case.name, **time_steps(steps, repeats, sync)})
    return rows


def format_lstm(rows: list[dict]) -> str:
    header = (
        f"{'LSTM (fwd+bwd)':<20} {'torch ms':>9} {'reference ms':>13} {'ratio':>6} "
        f"{'fast ms':>8} {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        torch_ms, ref_ms, fast_ms = (1e3 * row[k] for k in ("torch", "reference", "fast"))
        lines.append(
            f"{row['case']:<20} {torch_ms:>9.1f} {ref_ms:>13.1f} {ref_ms / torch_ms:>6.2f} "
            f"{fast_ms:>8.1f} {fast_ms / torch_ms:>6.2f}"
        )
    return "\n".join(lines)


# --- translation models -------------------------------------------------------------------

MODEL_FAMILIES: dict[str, tuple[type[RNNSeq2SeqBase], dict]] = {
    "seq2seq": (Seq2Seq, {}),
    "luong (general, feeding)": (LuongSeq2Seq, {"score": "general"}),
    "bahdanau": (BahdanauSeq2Seq, {}),
}
MODEL_SIZE = {
    "embedding_dim": 256,
    "hidden_size": 512,
    "num_layers": 2,
    "dropout": 0.1,
    "bidirectional_encoder": True,
}
VOCAB, SRC_LEN, TGT_LEN, PAD = 8000, 20, 20, 0


def random_batch(batch: int, device: torch.device):
    """Source and target rows of varying real length, padded at the end with PAD."""
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(3, VOCAB, (batch, SRC_LEN), generator=generator)
    tgt = torch.randint(3, VOCAB, (batch, TGT_LEN + 1), generator=generator)
    for rows, length in ((src, SRC_LEN), (tgt, TGT_LEN + 1)):
        lengths = torch.randint(length // 2, length + 1, (batch,), generator=generator)
        rows[torch.arange(length).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD
    tgt[:, 0] = 1  # BOS
    return src.to(device), tgt[:, :-1].to(device), tgt[:, 1:].to(device)


def training_step(model: RNNSeq2SeqBase, batch, device: torch.device) -> Callable[[], None]:
    src, tgt_in, tgt_out = batch
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        logits = model(src, tgt_in)  # [B, T, V]
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def run_models(
    repeats: int, batch_size: int, device: torch.device, sync: Callable[[], None]
) -> list[dict]:
    rows = []
    batch = random_batch(batch_size, device)
    target_tokens = int((batch[2] != PAD).sum())
    for family, (cls, extra) in MODEL_FAMILIES.items():
        torch.manual_seed(0)
        ours = cls(VOCAB, VOCAB, pad_id=PAD, **MODEL_SIZE, **extra)
        on_torch = cls(VOCAB, VOCAB, pad_id=PAD, use_torch_lstm=True, **MODEL_SIZE, **extra)
        on_torch.load_state_dict(ours.state_dict())
        steps = {
            "torch": training_step(on_torch, batch, device),
            "ours": training_step(ours, batch, device),
        }
        times = time_steps(steps, repeats, sync)
        rows.append({"model": family, **{k: target_tokens / v for k, v in times.items()}})
    return rows


def format_models(rows: list[dict], batch_size: int) -> str:
    header = f"{'training, tgt tok/s':<26} {'torch LSTM':>11} {'our LSTM':>9} {'ratio':>6}"
    lines = [
        f"batch {batch_size}, {SRC_LEN}+{TGT_LEN} tokens, vocab {VOCAB}, {MODEL_SIZE}",
        header,
        "-" * len(header),
    ]
    for row in rows:
        lines.append(
            f"{row['model']:<26} {row['torch']:>11.0f} {row['ours']:>9.0f} "
            f"{row['ours'] / row['torch']:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats: rough numbers")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median taken)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--skip-models", action="store_true", help="only the LSTM table")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    repeats = args.repeats or (3 if args.quick else 11)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(args.threads)
    print(
        f"{device}, float32, {torch.get_num_threads()} thread(s), median of {repeats} repeats; "
        "ratio = ours / torch"
    )
    # --quick: the smallest and the largest case only
    cases = [LSTM_CASES[0], LSTM_CASES[-1]] if args.quick else LSTM_CASES
    print(format_lstm(run_lstm(cases, repeats, device, sync)))
    if not args.skip_models:
        batch_size = 16 if args.quick else 64
        print()
        print(format_models(run_models(repeats, batch_size, device, sync), batch_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
