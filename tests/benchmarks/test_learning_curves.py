"""Reading a learning curve at a budget: interpolation between validations."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.benchmarks.loader import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


def test_scores_between_validations_are_interpolated_and_nan_outside():
    curves = load_benchmark("learning_curves")
    curve = {"minutes": [5.0, 10.0, 20.0], "bleu": [1.0, 3.0, 7.0], "chrf": [10.0, 20.0, 30.0]}
    assert curves.score_at(curve, 10.0) == {"bleu": 3.0, "chrf": 20.0}
    assert curves.score_at(curve, 15.0) == {"bleu": 5.0, "chrf": 25.0}
    for outside in (4.0, 20.5):
        assert all(math.isnan(v) for v in curves.score_at(curve, outside).values())
    assert all(math.isnan(v) for v in curves.score_at({"minutes": []}, 1.0).values())


def test_a_curve_is_read_from_the_validations_of_metrics_jsonl(tmp_path):
    curves = load_benchmark("learning_curves")
    records = [
        {"kind": "train", "step": 50, "loss": 5.0},
        {"kind": "valid", "step": 300, "bleu": 1.5, "chrf": 12.0, "wall_s": 60.0, "cpu_s": 120.0},
        {"kind": "valid", "step": 600, "bleu": 2.5, "chrf": 15.0, "wall_s": 120.0, "cpu_s": 240.0},
    ]
    lines = [json.dumps(r) for r in records]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    curve = curves.read_curve(tmp_path, "cpu_s")
    assert curve == {
        "minutes": [2.0, 4.0],
        "step": [300, 600],
        "bleu": [1.5, 2.5],
        "chrf": [12.0, 15.0],
    }
