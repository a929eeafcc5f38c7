"""Assemble `results/translation.json`: the acceptance runs' test scores, per family and seed.

The acceptance runs are scored once on the test split by `score_test.py`, which
adds one row per run and search to `benchmarks/results/acceptance.json`; their
validation curves are read off at fixed CPU budgets by `learning_curves.py`.
This gathers both into the file the README table and the notebook's translation
claims read:

    python benchmarks/translation_results.py \\
        --family transformer=tf-noam-s7,tf-noam-s1234 --family luong=luong-s7 \\
        --curves benchmarks/results/learning_curves.json --json results/translation.json

Layout (a family's figures are means over its seeds; `spread` is max - min):

    {"test": {"copy": {"bleu", "chrf"},
              family: {"bleu", "chrf", "beam": {"bleu", "chrf"}, "steps", "seeds": n,
                       "spread": {"bleu", "chrf"}, "runs": {label: {...}}}},
     "budgets": {minutes: {family: {"bleu", "chrf"}}},   # validation, greedy, one seed
     "gaps": {"chrf": {"<a>_minus_<b>": x}, "chrf_gap_over_spread": {...}},
     "kept": {family: "why"}, "signatures": ...}

Families not named keep their earlier figures from the existing file, each marked
under "kept" with the conditions that produced it, so an old row is never taken
for a new one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean

GREEDY, BEAM = "beam1", "beam5-a1.0-bound"


def run_scores(rows: dict, label: str) -> dict:
    """Greedy and beam test scores of one acceptance run (rows keyed label/search/...)."""
    found: dict = {}
    for key, row in rows.items():
        run_label, search = key.split("/")[:2]
        if run_label == label and key.endswith("/test.tsv") and search in (GREEDY, BEAM):
            found[search] = row
    if GREEDY not in found:
        raise SystemExit(f"acceptance.json: no greedy test row for {label!r}")
    greedy = found[GREEDY]
    scores = {"bleu": greedy["bleu"], "chrf": greedy["chrf"], "steps": greedy["steps"]}
    if BEAM in found:
        scores["beam"] = {"bleu": found[BEAM]["bleu"], "chrf": found[BEAM]["chrf"]}
    scores["cpu_minutes"] = greedy.get("cpu_minutes")
    return scores


def family_scores(runs: dict[str, dict]) -> dict:
    """Means over seeds, the spread between them, and each run's own figures."""
    values = list(runs.values())
    figures: dict = {
        metric: round(mean(v[metric] for v in values), 2) for metric in ("bleu", "chrf")
    }
    beams = [v["beam"] for v in values if "beam" in v]
    if len(beams) == len(values):
        figures["beam"] = {m: round(mean(b[m] for b in beams), 2) for m in ("bleu", "chrf")}
    figures["steps"] = round(mean(v["steps"] for v in values))
    figures["seeds"] = len(values)
    figures["spread"] = {
        m: round(max(v[m] for v in values) - min(v[m] for v in values), 2) for m in ("bleu", "chrf")
    }
    figures["runs"] = runs
    return figures


def budget_scores(curves: dict, families: dict[str, list[str]]) -> dict:
    """Validation scores at each budget of the curves file, per family (first run named)."""
    budgets: dict = {}
    for minutes, by_run in curves.get("at", {}).items():
        budgets[minutes] = {
            family: by_run[labels[0]] for family, labels in families.items() if labels[0] in by_run
        }
    return budgets


def gaps(test: dict, families: list[str]) -> dict:
    """chrF gap between each ordered pair of families, and that gap over the larger spread."""
    out: dict = {"chrf": {}, "chrf_gap_over_spread": {}}
    for a in families:
        for b in families:
            if a == b:
                continue
            gap = test[a]["chrf"] - test[b]["chrf"]
            spread = max(test[a]["spread"]["chrf"], test[b]["spread"]["chrf"])
            out["chrf"][f"{a}_minus_{b}"] = round(gap, 2)
            ratio = abs(gap) / spread if spread > 0 else float("nan")  # one seed: no spread
            out["chrf_gap_over_spread"][f"{a}_minus_{b}"] = round(ratio, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--acceptance", type=Path, default=Path("benchmarks/results/acceptance.json")
    )
    parser.add_argument("--curves", type=Path, default=None)
    parser.add_argument("--family", action="append", default=[], help="family=label1,label2")
    parser.add_argument("--json", type=Path, default=Path("results/translation.json"))
    parser.add_argument("--budget", default="", help="the budget in words, for the file")
    args = parser.parse_args(argv)

    acceptance = json.loads(args.acceptance.read_text())
    families = {name: labels.split(",") for name, labels in (f.split("=", 1) for f in args.family)}
    earlier = json.loads(args.json.read_text()) if args.json.is_file() else {"test": {}}
    copy = acceptance["copy"]["test.tsv"]
    test: dict = {"copy": {"bleu": copy["bleu"], "chrf": copy["chrf"]}}
    for name, labels in families.items():
        test[name] = family_scores(
            {label: run_scores(acceptance["rows"], label) for label in labels}
        )
    kept = {}
    for name, figures in earlier.get("test", {}).items():
        if name not in test:
            test[name] = figures
            kept[name] = earlier.get("kept", {}).get(name) or earlier.get("budget", "earlier run")
    document = {
        "test": test,
        "test_pairs": copy["pairs"],
        "budgets": budget_scores(json.loads(args.curves.read_text()), families)
        if args.curves
        else {},
        "gaps": gaps(test, list(families)),
        "kept": kept,
        "budget": args.budget or earlier.get("budget", ""),
        "signatures": earlier.get("signatures", {}),
    }
    args.json.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
