"""Score a run on the test split (the yardstick) with stated weights and search settings.

    python benchmarks/score_test.py runs/acc/tf --weights ema --beam 5 --alpha 1.0 \\
        --stopping bound --json benchmarks/results/acceptance.json --label tf-budget

Settings are chosen beforehand on validation (`search_settings.py`); this only
reports. Each call adds (or replaces) one row, keyed by `--label` and the search,
in the JSON file, with the copy-the-source baseline on the same pairs.
"""

from __future__ import annotations

import argparse
import fcntl
import json
from pathlib import Path

from search_settings import score  # the same scoring as the validation rows

from mlnotebook.translate import api
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.evaluate import copy_baseline, read_tsv_pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--test", type=Path, default=None, help="default: the run's test.tsv")
    parser.add_argument("--checkpoint", default=api.LAST_FILE)
    parser.add_argument("--weights", default="auto", choices=api.WEIGHT_CHOICES)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.6)
    parser.add_argument("--stopping", default="bound", choices=("bound", "current"))
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)

    test = args.test or args.run / api.TEST_FILE
    pairs = read_tsv_pairs(test)
    translator = api.load_model(args.run, checkpoint=args.checkpoint, weights=args.weights)
    translator.config.search.stopping = args.stopping
    scores = score(translator, pairs, beam=args.beam, alpha=args.alpha)
    state = load_checkpoint(args.run / args.checkpoint)["run_state"]
    search = f"beam{args.beam}" + (f"-a{args.alpha}-{args.stopping}" if args.beam > 1 else "")
    row = {
        "run": str(args.run),
        "checkpoint": args.checkpoint,
        "weights": args.weights,
        "search": search,
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "length_ratio": scores["length_ratio"],
        "steps": state["step"],
        "cpu_minutes": round(state.get("cpu_seconds", 0.0) / 60, 1),
        "wall_minutes": round(state.get("wall_seconds", 0.0) / 60, 1),
        "decode_seconds": scores["seconds"],
    }
    copy_bleu, copy_chrf = copy_baseline(pairs)
    copy = {
        "bleu": round(copy_bleu.score, 2),
        "chrf": round(copy_chrf.score, 2),
        "pairs": len(pairs),
    }
    key = f"{args.label}/{search}/{args.weights}/{test.name}"
    add_row(args.json, key, row, str(test.name), copy)
    print(json.dumps(row))
    return 0


def add_row(path: Path, key: str, row: dict, test_name: str, copy: dict) -> None:
    """Read, add, write back under an exclusive lock: runs scored side by side keep every row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = json.loads(path.read_text()) if path.is_file() else {}
        table.setdefault("copy", {})[test_name] = copy
        table.setdefault("rows", {})[key] = row
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(table, indent=1) + "\n")
        temporary.replace(path)  # atomic: a reader never sees half a file


if __name__ == "__main__":
    raise SystemExit(main())
