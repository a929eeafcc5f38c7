"""Choosing the weights and the search on validation: which weights, which length penalty,
which stopping rule, scored by BLEU, chrF and the output/reference length ratio.

    python benchmarks/search_settings.py runs/acc/tf --valid runs/budget_study/valid_sample.tsv \\
        --json benchmarks/results/search_settings.json

Rows: greedy search with each available set of weights (raw, the moving average,
average.pt when present), then beam search (width 5) with the chosen weights over
length penalties and both stopping rules. Only the validation sample is read; the
test split is left for the final score.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from mlnotebook.translate import api
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.evaluate import read_tsv_pairs


def score(translator: api.Translator, pairs, beam: int, alpha: float) -> dict:
    sources = [de for de, _ in pairs]
    references = [fr for _, fr in pairs]
    started = time.perf_counter()
    hypotheses = translator.translate(sources, beam=beam, length_penalty=alpha)
    seconds = time.perf_counter() - started
    bleu = BLEU().corpus_score(hypotheses, [references])
    chrf = CHRF().corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "length_ratio": round(bleu.sys_len / max(bleu.ref_len, 1), 3),
        "seconds": round(seconds, 1),
    }


def weight_choices(run: Path) -> list[tuple[str, str, str]]:
    """(label, checkpoint file, weights) for every set of weights the run holds."""
    choices = [("raw", api.LAST_FILE, "raw")]
    if load_checkpoint(run / api.LAST_FILE).get("ema") is not None:
        choices.append(("ema", api.LAST_FILE, "ema"))
    if (run / api.AVERAGE_FILE).is_file():
        choices.append(("average", api.AVERAGE_FILE, "raw"))
    return choices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--valid", type=Path, required=True, help="validation sample (TSV)")
    parser.add_argument("--alphas", default="0.6,1.0,1.5")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    pairs = read_tsv_pairs(args.valid)
    rows: dict[str, dict] = {}
    for label, checkpoint, weights in weight_choices(args.run):
        translator = api.load_model(args.run, checkpoint=checkpoint, weights=weights)
        rows[f"greedy/{label}"] = score(translator, pairs, beam=1, alpha=0.0)
        print(label, rows[f"greedy/{label}"], flush=True)
    best = max(
        weight_choices(args.run), key=lambda c: rows[f"greedy/{c[0]}"]["bleu"]
    )  # chosen on validation BLEU
    translator = api.load_model(args.run, checkpoint=best[1], weights=best[2])
    for stopping in ("current", "bound"):
        translator.config.search.stopping = stopping
        for alpha in (float(a) for a in args.alphas.split(",")):
            key = f"beam{args.beam}/{best[0]}/{stopping}/alpha{alpha}"
            rows[key] = score(translator, pairs, beam=args.beam, alpha=alpha)
            print(key, rows[key], flush=True)
    report = {"run": str(args.run), "valid": str(args.valid), "sentences": len(pairs), "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
