"""Learning curves: validation BLEU and chrF against training minutes, per run.

Every validation during training logs its greedy BLEU and chrF on the first
`train.bleu_sentences` pairs of the validation split, with the wall and CPU
seconds spent so far (metrics.jsonl). This draws them for several runs on one
figure, with the copy-the-source baseline on the same sentences as a line:

    python benchmarks/learning_curves.py runs/acc/transformer runs/acc/luong \\
        --out benchmarks/results/learning_curves.png --json benchmarks/results/learning_curves.json

The JSON holds each run's curve ({"minutes", "bleu", "chrf"} lists), the
baseline, and with `--budgets 7,14,28,56` each run's scores at those minutes
("at": {"14": {run: {"bleu", "chrf"}}}), read off the curve by linear
interpolation between the two validations around the mark (NaN past a run's
last validation), so the notebook can judge a claim per budget without the run
folders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_curve(run_dir: Path, clock: str = "wall_s") -> dict:
    """The validations of one run: minutes on `clock`, BLEU and chrF."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    valid = [json.loads(line) for line in lines if '"kind": "valid"' in line]
    valid = [v for v in valid if clock in v and "bleu" in v]
    return {
        "minutes": [round(v[clock] / 60, 3) for v in valid],
        "step": [v["step"] for v in valid],
        "bleu": [round(v["bleu"], 2) for v in valid],
        "chrf": [round(v.get("chrf", float("nan")), 2) for v in valid],
    }


def score_at(curve: dict, minutes: float) -> dict:
    """BLEU and chrF at `minutes`, interpolated linearly between validations; NaN outside."""
    import numpy as np

    times = curve["minutes"]
    if not times or not times[0] <= minutes <= times[-1]:
        return {"bleu": float("nan"), "chrf": float("nan")}
    return {m: round(float(np.interp(minutes, times, curve[m])), 2) for m in ("bleu", "chrf")}


def copy_scores(run_dir: Path) -> dict:
    """BLEU and chrF of copying the German on the validation sample the run scored."""
    import yaml

    from mlnotebook.translate.evaluate import copy_baseline
    from mlnotebook.translate.user_data import load_corpus

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    corpus = config["data"]["corpus"]
    sample = load_corpus(tuple(corpus) if isinstance(corpus, list) else corpus).valid
    bleu, chrf = copy_baseline(sample[: config["train"]["bleu_sentences"]])
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}


def plot(curves: dict[str, dict], baseline: dict, path: Path, clock: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, metric in zip(axes, ("bleu", "chrf"), strict=True):
        for name, curve in curves.items():
            axis.plot(curve["minutes"], curve[metric], marker=".", label=name)
        axis.axhline(baseline[metric], color="grey", linestyle="--", label="copy the source")
        axis.set(
            xlabel=f"training minutes ({'wall clock' if clock == 'wall_s' else 'CPU'})",
            ylabel=f"validation {metric.upper() if metric == 'bleu' else 'chrF'} (greedy)",
        )
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (name = folder name)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/learning_curves.png"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--clock", choices=("wall_s", "cpu_s"), default="wall_s")
    parser.add_argument("--budgets", default="", help="comma-separated minutes to read off")
    args = parser.parse_args(argv)
    curves = {run.name: read_curve(run, args.clock) for run in args.runs}
    baseline = copy_scores(args.runs[0])
    plot(curves, baseline, args.out, args.clock)
    if args.json:
        marks = [float(m) for m in args.budgets.split(",") if m]
        at = {f"{m:g}": {n: score_at(c, m) for n, c in curves.items()} for m in marks}
        figures = {"copy": baseline, "clock": args.clock, "runs": curves, "at": at}
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"learning curves: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
