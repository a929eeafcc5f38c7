"""The translation table: test BLEU and chrF of each trained model family and a copy baseline.

Run after training each family with its shipped config into one folder:

    for f in seq2seq luong bahdanau transformer; do
        mlnb train configs/$f.yaml train.out_dir=runs/acc/$f
    done
    python benchmarks/translation_quality.py --runs runs/acc --json results/translation.json

Every model is scored on its run's held-out test split (the same split for all:
the corpus split is by content hash) with the beam width and length penalty of
its config. The copy baseline "translates" by returning the German source
unchanged: on this corpus many segments are names, commands, paths and numbers
that a translation leaves alone, so it is far from zero and every model must
beat it to have learnt anything.

The JSON holds {"test": {family: {"bleu", "chrf", ...}}, "signatures": ...}: the
notebook's translation claims read it (see mlnotebook.notebook.claims).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mlnotebook.translate import api
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.evaluate import copy_baseline, evaluate_pairs, read_tsv_pairs

FAMILIES = ("seq2seq", "luong", "bahdanau", "transformer")


def run_facts(run_dir: Path) -> dict:
    """Steps, epochs and training time of a finished run, from its last checkpoint."""
    state = load_checkpoint(run_dir / api.LAST_FILE)["run_state"]
    return {
        "steps": state["step"],
        "epochs": state["epoch"],  # whole epochs completed
        "train_minutes": round(state["elapsed_seconds"] / 60, 1),
        "stop_reason": state["stop_reason"],
    }


def score_run(run_dir: Path, pairs: list[tuple[str, str]]) -> dict:
    translator = api.load_model(run_dir)
    started = time.perf_counter()
    bleu, chrf, _ = evaluate_pairs(translator.translate, pairs)
    seconds = time.perf_counter() - started
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "decode_seconds": round(seconds, 1),
        **run_facts(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/acc"))
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    found = [f for f in args.families if (args.runs / f / api.BEST_FILE).is_file()]
    if not found:
        raise SystemExit(f"no finished runs under {args.runs} (looked for */{api.BEST_FILE})")
    pairs = read_tsv_pairs(args.runs / found[0] / api.TEST_FILE)
    bleu, chrf = copy_baseline(pairs)
    table = {"copy": {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}}
    signatures = {"bleu": bleu.signature, "chrf": chrf.signature}
    for family in found:
        table[family] = score_run(args.runs / family, pairs)
        print(family, table[family], flush=True)

    print(f"\ntest split: {len(pairs):,} pairs")
    print(f"{'model':<12} {'BLEU':>6} {'chrF':>6} {'steps':>6} {'minutes':>8}")
    for name, row in table.items():
        steps, minutes = row.get("steps", ""), row.get("train_minutes", "")
        print(f"{name:<12} {row['bleu']:>6.2f} {row['chrf']:>6.2f} {steps:>6} {minutes:>8}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"test": table, "test_pairs": len(pairs), "signatures": signatures}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
