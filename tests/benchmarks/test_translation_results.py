"""Assembling results/translation.json from acceptance rows: means, spreads, kept rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.benchmarks.loader import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


def _row(bleu: float, chrf: float, steps: int = 100) -> dict:
    return {"bleu": bleu, "chrf": chrf, "steps": steps, "cpu_minutes": 56.0}


def test_families_are_averaged_over_seeds_and_old_rows_are_kept_and_marked(tmp_path):
    results = load_benchmark("translation_results")
    acceptance = {
        "copy": {"test.tsv": {"bleu": 9.0, "chrf": 23.0, "pairs": 10}},
        "rows": {
            "tf-a/beam1/raw/test.tsv": _row(10.0, 30.0),
            "tf-a/beam5-a1.0-bound/raw/test.tsv": _row(11.0, 31.0),
            "tf-b/beam1/raw/test.tsv": _row(12.0, 34.0, 120),
            "tf-b/beam5-a1.0-bound/raw/test.tsv": _row(13.0, 35.0, 120),
            "lu-a/beam1/raw/test.tsv": _row(8.0, 28.0),
        },
    }
    (tmp_path / "acceptance.json").write_text(json.dumps(acceptance))
    curves = {
        "at": {"14": {"tf-a": {"bleu": 1.0, "chrf": 9.0}, "lu-a": {"bleu": 2.0, "chrf": 8.0}}}
    }
    (tmp_path / "curves.json").write_text(json.dumps(curves))
    out = tmp_path / "translation.json"
    old = {"test": {"seq2seq": {"bleu": 1.2, "chrf": 12.2}}, "budget": "old conditions"}
    out.write_text(json.dumps(old))
    argv = [
        "--acceptance",
        str(tmp_path / "acceptance.json"),
        "--curves",
        str(tmp_path / "curves.json"),
    ]
    argv += ["--family", "transformer=tf-a,tf-b", "--family", "luong=lu-a", "--json", str(out)]
    assert results.main(argv) == 0
    document = json.loads(out.read_text())
    tf = document["test"]["transformer"]
    assert (tf["bleu"], tf["chrf"], tf["steps"], tf["seeds"]) == (11.0, 32.0, 110, 2)
    assert tf["beam"] == {"bleu": 12.0, "chrf": 33.0} and tf["spread"] == {"bleu": 2.0, "chrf": 4.0}
    assert "beam" not in document["test"]["luong"]  # no beam row: no beam mean
    assert document["test"]["copy"] == {"bleu": 9.0, "chrf": 23.0}
    assert document["test"]["seq2seq"] == {"bleu": 1.2, "chrf": 12.2}
    assert document["kept"] == {"seq2seq": "old conditions"}
    assert document["budgets"]["14"]["luong"] == {"bleu": 2.0, "chrf": 8.0}
    assert document["gaps"]["chrf"]["transformer_minus_luong"] == 4.0
    assert document["gaps"]["chrf_gap_over_spread"]["transformer_minus_luong"] == 1.0
