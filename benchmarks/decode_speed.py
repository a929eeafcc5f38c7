"""Decoding speed: our cached Transformer decoder against re-running the prefix and CTranslate2.

Three ways to run the same search (greedy, and beam 5) with the same weights:

* ours, cached: `decode_step` feeds only the new token through the decoder and
  reuses every layer's stored keys and values (what `mlnb translate` does);
* ours, uncached: the reference path, the decoder re-run over the whole prefix
  at every step, so step t costs O(t) instead of O(1) decoder positions;
* CTranslate2 fp32: the same weights exported with `export_ct2`, run through
  `Translator.translate_batch` on token strings, intra_threads = --threads,
  inter_threads = 1, in a worker process of its own (_ct2_worker.py: in one
  process with torch, the two OpenMP thread pools slowed CTranslate2 2-3x).

Ours runs each pass inside one `packed_weights()` block, as `mlnb translate`
does for all the sentences of one call (nn/packed_linear.py).

The model has the shipped configs/transformer.yaml shape (d_model 256, 4 heads,
3 + 3 pre-norm layers, d_ff 1024, joint vocabulary of 8000, tied embeddings),
with random weights, or the trained weights of `--model RUN_DIR`. The sources
are random token ids with lengths 5-40, or with --model the German side of the
run's test split. Every variant gets the same batches (sentences sorted by
length, then cut into --batch rows, as `mlnb translate` does), the same length
cap (--max-len output tokens, one cap for every sentence, since CTranslate2
takes one per call; 32 by default, 64 with --model), no length penalty
(CTranslate2's |Y|^alpha and our GNMT penalty differ by definition; without one
the searches agree token for token, see tests/translate/test_export_ct2.py) and
min_decoding_length = 0 for CTranslate2 (its default forbids an empty output;
ours does not).

A random-weight model rarely says EOS, so most outputs run to the cap: the
work is then the same for every variant but longer than for real
translations. The table reports each variant's mean output length (and
whether its outputs equal ours cached) so that the comparison can be seen to
be fair. Timings are sentences per second, the median over --repeats, with the
variants taking turns within each repeat so that load from elsewhere hits all
alike. Target: ours cached within 2x of CTranslate2 (ratio >= 0.5).

    python benchmarks/decode_speed.py [--model RUN_DIR] [--threads 2] \
        [--json benchmarks/results/decode_speed.json]
    python benchmarks/decode_speed.py --quick      # small smoke run: numbers mean nothing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import torch
from _timing import median_interleaved
from torch import Tensor, nn

from mlnotebook.nn.packed_linear import packed_weights
from mlnotebook.nn.transformer import TransformerSeq2Seq
from mlnotebook.translate.config import load_config
from mlnotebook.translate.evaluate import read_tsv_pairs
from mlnotebook.translate.export_ct2 import export_ct2, tokenizer_pieces
from mlnotebook.translate.model_registry import VocabInfo, build_model
from mlnotebook.translate.search import Hypothesis, beam_search, greedy_search

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = ROOT / "configs" / "transformer.yaml"
CT2_VERSION = version("ctranslate2")
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]  # ids 0-3, as our tokenizer fixes them


@dataclass
class Workload:
    """A model, its vocabulary as strings, and the batches every variant decodes."""

    model: TransformerSeq2Seq
    pieces: list[str]
    unk_id: int
    batches: list[list[list[int]]]  # batch -> sentence -> source ids
    weights: str  # "random" or the run folder


@dataclass
class Row:
    search: str
    variant: str
    sentences_per_s: float
    mean_output_len: float
    same_as_cached: bool


# --------------------------------------------------------------------------- the workload


def random_workload(sentences: int, batch: int, seed: int = 0) -> Workload:
    """The shipped Transformer shape with its initial (random) weights; random sources."""
    config = load_config(SHIPPED_CONFIG)
    vocab = VocabInfo(size=config.data.vocab_size)
    torch.manual_seed(seed)
    model = build_model(config.model.family, config.model.params, vocab).eval()
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 41, (sentences,), generator=generator).tolist()
    sources = [torch.randint(4, vocab.size, (n,), generator=generator).tolist() for n in lengths]
    pieces = SPECIALS + [f"t{i}" for i in range(len(SPECIALS), vocab.size)]
    return Workload(model, pieces, vocab.unk_id, make_batches(sources, batch), "random")


def run_workload(run_dir: Path, sentences: int, batch: int) -> Workload:
    """A trained run: its best checkpoint and the German side of its test split."""
    from mlnotebook.translate import api

    translator = api.load_model(run_dir)
    if not isinstance(translator.model, TransformerSeq2Seq):
        raise SystemExit(f"{run_dir}: not a Transformer run")
    texts = [de for de, _ in read_tsv_pairs(run_dir / api.TEST_FILE)][:sentences]
    max_src = translator.config.data.max_src_len
    sources = [ids[:max_src] for ids in translator.tokenizer.encode(texts) if ids]
    pieces = tokenizer_pieces(translator.tokenizer.model_proto)
    unk_id = translator.tokenizer.unk_id
    return Workload(translator.model, pieces, unk_id, make_batches(sources, batch), str(run_dir))


def make_batches(sources: list[list[int]], batch: int) -> list[list[list[int]]]:
    """Sorted by length, then cut into batches: little padding, like `mlnb translate`."""
    ordered = sorted(sources, key=len)
    return [ordered[start : start + batch] for start in range(0, len(ordered), batch)]


def padded(rows: list[list[int]], pad_id: int) -> Tensor:
    table = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    for index, row in enumerate(rows):
        table[index, : len(row)] = torch.tensor(row)
    return table


# --------------------------------------------------------------------------- the variants


class Uncached(nn.Module):
    """The same model, seen by the searches as one that re-runs the whole prefix each step."""

    def __init__(self, model: TransformerSeq2Seq) -> None:
        super().__init__()
        self.model = model
        self.pad_id, self.bos_id, self.eos_id = model.pad_id, model.bos_id, model.eos_id

    def encode(self, src: Tensor, with_attention: bool = True):
        return self.model.encode(src, with_attention=with_attention)

    def decode_step(self, state, prev_tokens: Tensor):
        return self.model.decode_step_uncached(state, prev_tokens)

    def reorder_state(self, state, index: Tensor):
        return self.model.reorder_state(state, index)


Decode = Callable[[], list[list[int]]]  # one pass over every batch -> output ids per sentence


def ours(model: nn.Module, work: Workload, beam: int, max_len: int) -> Decode:
    sources = [padded(rows, work.model.pad_id) for rows in work.batches]

    def decode() -> list[list[int]]:
        outputs: list[list[int]] = []
        with packed_weights():  # one packing per pass, as `mlnb translate` does per call
            for src in sources:
                if beam == 1:
                    hypotheses: list[Hypothesis] = greedy_search(
                        model, src, max_len, with_attention=False
                    )
                else:
                    hypotheses = beam_search(model, src, beam, max_len, 0.0, with_attention=False)
                outputs.extend(h.tokens for h in hypotheses)
        return outputs

    return decode


class CTranslate2Process:
    """CTranslate2 in a worker process of its own (see _ct2_worker.py for why), loaded
    with the exported model and the workload's batches as token strings."""

    def __init__(self, model_dir: Path, work: Workload, threads: int) -> None:
        self.piece_ids = {piece: index for index, piece in enumerate(work.pieces)}
        sources = [[[work.pieces[i] for i in row] for row in rows] for rows in work.batches]
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_ct2_worker.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._send({"model": str(model_dir), "threads": threads, "batches": sources})

    def _send(self, message: dict) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise SystemExit(f"CTranslate2 worker stopped (exit code {self.process.wait()})")
        return json.loads(answer)

    def variant(self, beam: int, max_len: int) -> Decode:
        def decode() -> list[list[int]]:
            outputs = self._send({"beam": beam, "max_len": max_len})["outputs"]
            return [[self.piece_ids[p] for p in pieces] for pieces in outputs]

        return decode

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


# --------------------------------------------------------------------------- timing


def time_variants(variants: dict[str, Decode], repeats: int) -> dict[str, tuple[float, list]]:
    """Median seconds per pass and the outputs of each variant; turns taken per repeat."""
    outputs = {name: decode() for name, decode in variants.items()}  # warm-up
    seconds = median_interleaved(variants, repeats)
    return {name: (seconds[name], outputs[name]) for name in variants}


def bench_search(
    work: Workload, ct2: CTranslate2Process, beam: int, max_len: int, repeats: int
) -> list[Row]:
    search = "greedy" if beam == 1 else f"beam {beam}"
    variants = {
        "ours, cached": ours(work.model, work, beam, max_len),
        "ours, uncached": ours(Uncached(work.model), work, beam, max_len),
        "CTranslate2 fp32": ct2.variant(beam, max_len),
    }
    timed = time_variants(variants, repeats)
    count = sum(len(rows) for rows in work.batches)
    reference = timed["ours, cached"][1]
    return [
        Row(
            search=search,
            variant=name,
            sentences_per_s=count / seconds,
            mean_output_len=sum(len(o) for o in outputs) / count,
            same_as_cached=outputs == reference,
        )
        for name, (seconds, outputs) in timed.items()
    ]


def print_table(rows: list[Row]) -> None:
    print(f"{'search':<8}{'variant':<20}{'sent/s':>9}{'mean len':>10}{'same output':>13}")
    for row in rows:
        same = "yes" if row.same_as_cached else "NO"
        print(
            f"{row.search:<8}{row.variant:<20}{row.sentences_per_s:>9.1f}"
            f"{row.mean_output_len:>10.1f}{same:>13}"
        )
    print()
    for search in dict.fromkeys(row.search for row in rows):
        rate = {row.variant: row.sentences_per_s for row in rows if row.search == search}
        versus_ct2 = rate["ours, cached"] / rate["CTranslate2 fp32"]
        verdict = "within 2x" if versus_ct2 >= 0.5 else "NOT within 2x"
        print(
            f"{search}: ours cached / CTranslate2 = {versus_ct2:.2f}x ({verdict}); "
            f"cached / uncached = {rate['ours, cached'] / rate['ours, uncached']:.2f}x"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a training run folder (default: random)")
    parser.add_argument("--sentences", type=int, default=128, help="sentences per pass")
    parser.add_argument("--batch", type=int, default=32, help="sentences per search batch")
    parser.add_argument(
        "--max-len", type=int, default=None,
        help="output tokens at most (default: 32 with random weights, 64 with --model)",
    )  # fmt: skip
    parser.add_argument("--beam", type=int, default=5, help="beam width of the beam rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per variant")
    parser.add_argument("--threads", type=int, default=2, help="torch and CTranslate2 threads")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sentences, args.batch, args.max_len, args.repeats = 12, 6, 6, 1
    if args.max_len is None:
        args.max_len = 64 if args.model else 32
    torch.set_num_threads(args.threads)

    if args.model:
        work = run_workload(args.model, args.sentences, args.batch)
    else:
        work = random_workload(args.sentences, args.batch)
    with tempfile.TemporaryDirectory() as folder:
        exported = export_ct2(work.model, Path(folder) / "ct2", work.pieces, unk_id=work.unk_id)
        ct2 = CTranslate2Process(exported, work, args.threads)
        try:
            rows = bench_search(work, ct2, 1, args.max_len, args.repeats)
            rows += bench_search(work, ct2, args.beam, args.max_len, args.repeats)
        finally:
            ct2.close()

    count = sum(len(rows) for rows in work.batches)
    print(
        f"{count} sentences in batches of {args.batch}, at most {args.max_len} output tokens, "
        f"weights: {work.weights}; threads {args.threads}, torch {torch.__version__}, "
        f"ctranslate2 {CT2_VERSION}; median of {args.repeats}\n"
    )
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        report = {
            "settings": settings,
            "weights": work.weights,
            "torch": torch.__version__,
            "ctranslate2": CT2_VERSION,
            "rows": [asdict(row) for row in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
