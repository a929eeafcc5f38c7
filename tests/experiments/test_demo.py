"""`mlnb demo --quick` runs every stage and leaves its figures where it says."""

from __future__ import annotations

import json

from mlnotebook.cli import main


def test_quick_demo_writes_race_sweep_and_attention_figures(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    race = sorted(p.name for p in (tmp_path / "race").glob("*.png"))
    assert race == ["race_beale.png", "race_ravine.png", "race_rosenbrock.png", "race_saddle.png"]
    assert (tmp_path / "bn_sweep" / "bn_sweep.png").stat().st_size > 0
    attention = sorted((tmp_path / "translation").glob("attention-*.png"))
    assert len(attention) == 5
    for path in attention:
        assert str(path) in printed  # the demo says where each figure is
    scores = json.loads((tmp_path / "translation" / "scores.json").read_text())
    assert set(scores) == {"copy", "luong", "transformer"}
    assert set(scores["copy"]) == {"bleu", "chrf"}
    for family in ("luong", "transformer"):
        assert (tmp_path / "translation" / family / "best.pt").exists()
        assert family in printed  # a row of the BLEU table
        assert set(scores[family]) == {"bleu", "chrf", "steps"} and scores[family]["steps"] == 60
    assert "copy source" in printed
    index = tmp_path / "site" / "index.html"
    assert index.is_file() and f"open {index}" in printed
    assert (tmp_path / "site" / "entries" / "momentum.html").is_file()


def test_demo_rejects_a_non_positive_budget(capsys):
    assert main(["demo", "--minutes", "0"]) == 2
    assert "--minutes must be positive" in capsys.readouterr().err
