"""Training speed of our Transformer against torch.nn.Transformer, same model, same data.

Both models are the same translation Transformer: d_model 256, 4 heads, 3 + 3
layers, FFN 1024, a joint 8000-token vocabulary with tied embeddings, batches of
~205 sentences x 20 source x 20 target tokens, Adam, cross-entropy with label
smoothing 0.1. The torch baseline wraps `torch.nn.Transformer` the way its
documentation suggests (padding masks, a causal target mask with
`tgt_is_causal=True`). One training step = forward, loss, backward, Adam step.

Reported: target tokens per second (median over repeats, the variants
interleaved so machine noise hits both alike), the achieved FLOP/s from an
analytic count of the matmul work of a full step (the same nominal count for
every variant, so a variant that skips work on padding shows a higher rate),
and that as a fraction of a matmul ceiling measured in the same run (torch.mm
on 2048 x 2048 fp32). A second table compares greedy decoding with the
key/value cache against re-running the decoder over the whole prefix each step.

    python benchmarks/transformer_speed.py [--quick] [--no-compile] [--threads N] [--cpu-time]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlnotebook.nn.positional_encoding import PositionalEncoding
from mlnotebook.nn.transformer import TransformerSeq2Seq

PAD, BOS, EOS = 0, 1, 2


@dataclass
class Config:
    vocab: int = 8000
    d_model: int = 256
    heads: int = 4
    layers: int = 3
    d_ff: int = 1024
    dropout: float = 0.1
    batch: int = 205
    src_len: int = 20
    tgt_len: int = 20
    label_smoothing: float = 0.1
    norm_first: bool = True


class TorchSeq2Seq(nn.Module):
    """The baseline: torch.nn.Transformer with the same embeddings and output layer."""

    def __init__(self, c: Config):
        super().__init__()
        self.d_model = c.d_model
        self.embedding = nn.Embedding(c.vocab, c.d_model, padding_idx=PAD)
        nn.init.normal_(self.embedding.weight, std=c.d_model**-0.5)
        self.positional_encoding = PositionalEncoding(c.d_model, 256, c.dropout)
        self.transformer = nn.Transformer(
            c.d_model, c.heads, c.layers, c.layers, c.d_ff, c.dropout,
            batch_first=True, norm_first=c.norm_first,
        )  # fmt: skip
        self.output_projection = nn.Linear(c.d_model, c.vocab, bias=False)
        self.output_projection.weight = self.embedding.weight

    def _embed(self, tokens: Tensor) -> Tensor:
        return self.positional_encoding(self.embedding(tokens) * self.d_model**0.5)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        src_padding = src == PAD
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        hidden = self.transformer(
            self._embed(src), self._embed(tgt_in), tgt_mask=causal, tgt_is_causal=True,
            src_key_padding_mask=src_padding, memory_key_padding_mask=src_padding,
        )  # fmt: skip
        return self.output_projection(hidden)


def make_ours(c: Config, compile_loss: bool = False) -> TransformerSeq2Seq:
    return TransformerSeq2Seq(
        c.vocab, c.vocab, PAD, BOS, EOS, d_model=c.d_model, num_heads=c.heads,
        num_encoder_layers=c.layers, num_decoder_layers=c.layers, d_ff=c.d_ff,
        dropout=c.dropout, norm_first=c.norm_first, share_embeddings=True, max_len=256,
        compile_loss=compile_loss,
    )  # fmt: skip


def make_batches(c: Config, count: int, seed: int = 0) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Random sentences, right-padded: lengths 12..len, so ~20% of positions are padding."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        src = torch.randint(3, c.vocab, (c.batch, c.src_len), generator=generator)
        tgt = torch.randint(3, c.vocab, (c.batch, c.tgt_len + 1), generator=generator)
        src_lengths = torch.randint(12, c.src_len + 1, (c.batch, 1), generator=generator)
        tgt_lengths = torch.randint(12, c.tgt_len + 1, (c.batch, 1), generator=generator)
        src[torch.arange(c.src_len) >= src_lengths] = PAD
        tgt[:, 0] = BOS
        tgt[torch.arange(c.tgt_len + 1) > tgt_lengths] = PAD
        batches.append((src, tgt[:, :-1], tgt[:, 1:]))
    return batches


LossOf = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]


def full_logits_loss(c: Config) -> LossOf:
    """Logits at every target position, padding ignored by the loss (torch's usual way)."""

    def loss_of(model: nn.Module, src: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> Tensor:
        logits = model(src, tgt_in)  # [batch, tgt_len, V]
        return F.cross_entropy(
            logits.reshape(-1, c.vocab), tgt_out.reshape(-1),
            ignore_index=PAD, label_smoothing=c.label_smoothing,
        )  # fmt: skip

    return loss_of


def real_token_loss(c: Config) -> LossOf:
    """Our model's `loss`: every position-wise step only at real (non-pad) tokens."""

    def loss_of(model: nn.Module, src: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> Tensor:
        return model.loss(src, tgt_in, tgt_out, c.label_smoothing)

    return loss_of


def make_step(model: nn.Module, loss_of: LossOf) -> Callable:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(src: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> float:
        loss = loss_of(model, src, tgt_in, tgt_out)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def training_flops(c: Config, batch: int) -> float:
    """Matmul FLOPs of one training step; backward costs twice the forward.

    A linear map in -> out on n tokens costs 2 n in out; attention costs
    2 n_q n_k d for Q K^T and the same again for the weighted sum of V.
    """
    d, f = c.d_model, c.d_ff
    src_tokens, tgt_tokens = batch * c.src_len, batch * c.tgt_len
    # encoder layer: Q, K, V, W^O (4 d^2) and the FFN (2 d f) per token, plus attention
    encoder = 2 * src_tokens * (4 * d * d + 2 * d * f) + 4 * batch * c.src_len**2 * d
    # decoder layer: self-attention 4 d^2, cross Q and W^O 2 d^2, FFN 2 d f per target
    # token; cross K, V 2 d^2 per source token; self- and cross-attention products
    decoder = (
        2 * tgt_tokens * (6 * d * d + 2 * d * f)
        + 2 * src_tokens * 2 * d * d
        + 4 * batch * c.tgt_len * (c.tgt_len + c.src_len) * d
    )
    output = 2 * tgt_tokens * d * c.vocab
    return 3.0 * (c.layers * (encoder + decoder) + output)


def matmul_ceiling(repeats: int, clock: Callable[[], float]) -> float:
    """GFLOP/s of torch.mm on 2048 x 2048 fp32 (median)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = clock()
        torch.mm(a, b)
        times.append(clock() - start)
    return 2 * 2048**3 / statistics.median(times) / 1e9


def time_steps(step: Callable, batches: list, steps: int, clock: Callable[[], float]) -> float:
    start = clock()
    for i in range(steps):
        step(*batches[i % len(batches)])
    return (clock() - start) / steps


def bench_training(
    c: Config, repeats: int, steps: int, compile_loss: bool, clock: Callable[[], float]
) -> dict[str, float]:
    batches = make_batches(c, 4)
    torch.manual_seed(0)
    variants = {
        "torch.nn.Transformer": make_step(TorchSeq2Seq(c).train(), full_logits_loss(c)),
        "ours, full logits": make_step(make_ours(c).train(), full_logits_loss(c)),
        "ours, model.loss": make_step(make_ours(c).train(), real_token_loss(c)),
    }
    if compile_loss:
        compiled = make_ours(c, compile_loss=True).train()
        variants["ours, compiled loss"] = make_step(compiled, real_token_loss(c))
    for name, step in variants.items():  # warm-up (and compilation)
        start = time.perf_counter()
        for batch in batches[:2]:
            step(*batch)
        print(f"  warm-up {name}: {time.perf_counter() - start:.1f} s")
    per_step: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved so noise hits every variant alike
        for name, step in variants.items():
            per_step[name].append(time_steps(step, batches, steps, clock))
    return {name: statistics.median(times) for name, times in per_step.items()}


def bench_decoding(c: Config, steps: int, batch: int) -> dict[str, float]:
    """Greedy decoding seconds for `steps` tokens, with and without the cache."""
    model = make_ours(c).eval()
    src = make_batches(replace_batch(c, batch), 1, seed=1)[0][0]
    seconds = {}
    for use_cache in (True, False):
        with torch.no_grad():
            start = time.perf_counter()
            state, tokens = model.encode(src), torch.full((batch,), BOS)
            for _ in range(steps):
                log_probs, state, _ = model.decode_step(state, tokens, use_cache)
                tokens = log_probs.argmax(-1)
            seconds["cached" if use_cache else "uncached"] = time.perf_counter() - start
    return seconds


def replace_batch(c: Config, batch: int) -> Config:
    return Config(**{**c.__dict__, "batch": batch})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps: checks it runs")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled-loss run")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time steps by this process's CPU time, not wall time: steadier on a shared "
        "machine (use with --threads 1)",
    )
    parser.add_argument("--post-norm", action="store_true", help="post-norm layers (paper)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    c = Config(norm_first=not args.post_norm)
    repeats, steps = (3, 2) if args.quick else (7, 5)

    clock = time.process_time if args.cpu_time else time.perf_counter
    ceiling = matmul_ceiling(5 if args.quick else 20, clock)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"matmul ceiling (torch.mm 2048^2 fp32): {ceiling:.1f} GFLOP/s")
    times = bench_training(c, repeats, steps, not args.no_compile, clock)
    tokens = sum(int((b[2] != PAD).sum()) for b in make_batches(c, 4)) / 4
    flops = training_flops(c, c.batch)
    baseline = times["torch.nn.Transformer"]
    clock_name = "CPU time" if args.cpu_time else "wall time"
    print(
        f"\ntraining step ({clock_name}), median of {repeats} x {steps} steps, "
        f"{tokens:.0f} target tokens/step"
    )
    print(f"{'model':<26}{'ms/step':>10}{'tokens/s':>11}{'GFLOP/s':>10}{'of mm':>8}{'speedup':>9}")
    for name, seconds in times.items():
        gflops = flops / seconds / 1e9
        print(
            f"{name:<26}{seconds * 1e3:>10.1f}{tokens / seconds:>11.0f}{gflops:>10.1f}"
            f"{gflops / ceiling:>8.0%}{baseline / seconds:>8.2f}x"
        )

    decode_steps = 10 if args.quick else 30
    decode = bench_decoding(c, decode_steps, batch=64)
    print(f"\ngreedy decoding, 64 sentences x {decode_steps} steps")
    for name, seconds in decode.items():
        print(f"{name:<24}{seconds * 1e3:>10.1f} ms{64 * decode_steps / seconds:>11.0f} tokens/s")
    print(f"cache speed-up: {decode['uncached'] / decode['cached']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
