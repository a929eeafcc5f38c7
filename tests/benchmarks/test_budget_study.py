"""The compute-matched study runs end to end in its quick mode (toy data, tiny model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.loader import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_study_trains_scores_and_tabulates(tmp_path):
    out = tmp_path / "study"
    command = [sys.executable, str(ROOT / "benchmarks" / "budget_study.py"), "--quick"]
    done = subprocess.run(
        [*command, "--out", str(out), "--seeds", "1,2", "--only", "base,rex"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in records) == ["base-s1", "base-s2", "rex-s1", "rex-s2"]
    for record in records:
        assert record["steps"] == 12
        assert 0.0 <= record["valid"]["bleu"] <= 100.0
        assert 0.0 < record["valid"]["chrf"] <= 100.0
    # Each run used its own schedule and seed.
    config = (out / "runs" / "rex-s2" / "config.yaml").read_text()
    assert "decay: rex" in config and "seed: 2" in config and "budget_clock: cpu" in config
    table = (out / "table.md").read_text()
    assert table.count("\n") == 2 + 4 and "REX decay" in table
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"

    # A second call finds every run done and trains nothing.
    again = subprocess.run(
        [*command, "--out", str(out), "--seeds", "1,2", "--only", "base,rex"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


def test_an_unknown_variant_is_refused(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "budget_study.py"), "--quick", "--only", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "unknown variant(s) nope" in done.stderr


def test_the_summary_pairs_each_variant_with_the_base_of_its_seed(tmp_path):
    import math

    study = load_benchmark("budget_study")

    def record(variant, seed, ppl, chrf):
        valid = {"bleu": 1.0, "chrf": chrf}
        return {
            "run": f"{variant}-s{seed}",
            "variant": variant,
            "seed": seed,
            "steps": 10,
            "valid_ppl": ppl,
            "valid": valid,
        }

    records = [
        record("base", 1, 100.0, 10.0),
        record("base", 2, 200.0, 12.0),
        record("base", 3, 150.0, 11.0),
        record("small", 1, 50.0, 13.0),
        record("small", 2, 100.0, 14.0),
        record("small", 3, 75.0, 15.0),
        record("small", 4, 10.0, 99.0),  # no base run with seed 4: not paired
        {"run": "wide-s1", "variant": "wide", "seed": 1, "error": "see log"},
    ]
    summary = study.write_summary(records, tmp_path)
    gain = summary["gains"]["small"]
    # Every seed halves the perplexity: a gain of ln 2 in loss with no spread.
    assert gain["seeds"] == 3 and math.isclose(gain["loss"]["mean"], math.log(2), abs_tol=1e-4)
    assert math.isclose(gain["loss"]["low"], gain["loss"]["high"], abs_tol=1e-4)
    assert (
        math.isclose(gain["chrf"]["mean"], 3.0) and gain["chrf"]["low"] < 3.0 < gain["chrf"]["high"]
    )
    assert summary["variants"]["small"]["seeds"] == 4 and "wide" not in summary["variants"]
    assert "base" not in summary["gains"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
