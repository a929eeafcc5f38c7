"""The claims runner on a fake experiment: verdicts, figure references and results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlnotebook.errors import UserError
from mlnotebook.notebook import claims as claims_module
from mlnotebook.notebook.claims import ClaimRunner, find_results_file
from mlnotebook.notebook.entry import parse_entry

CALLS: list[bool] = []


def fake_experiment(quick: bool = True) -> dict:
    CALLS.append(quick)
    return {"test": {"a": {"bleu": 30.0}, "b": {"bleu": 20.0}}, "nan": float("nan")}


ENTRY = """\
---
term: Fake
claims:
  - text: a beats b
    experiment: tests.notebook.test_claims_runner:fake_experiment
    results: results/fake.json
    checks:
      - {{metric: test.a.bleu, condition: "> @test.b.bleu"}}
      - {{metric: test.a.bleu, condition: "{second}"}}
    verdict: supported
---
## Idea
x
"""


def _entry(tmp_path: Path, second: str = "< 100"):
    path = tmp_path / "fake.md"
    path.write_text(ENTRY.format(second=second), encoding="utf-8")
    return parse_entry(path)


def test_verdicts_and_references(tmp_path: Path) -> None:
    runner = ClaimRunner(quick=True)
    for second, verdict in (("< 100", "supported"), ("> 100", "conditional")):
        entry = _entry(tmp_path, second)
        result = runner.judge(entry, entry.claims[0])
        assert result.measured_verdict == verdict
        assert result.checks[0].compared_with == 20.0
    assert "test.a.bleu = 30 (holds > @test.b.bleu = 20)" in result.figures_text()


def test_experiment_runs_once_per_mode(tmp_path: Path) -> None:
    CALLS.clear()
    entry = _entry(tmp_path)
    runner = ClaimRunner(quick=True)
    runner.judge_all([entry, entry])
    assert CALLS == [True]


def test_nan_never_holds(tmp_path: Path) -> None:
    text = ENTRY.format(second="!= 1").replace('test.a.bleu, condition: "!=', 'nan, condition: "!=')
    entry = parse_entry(tmp_path / "fake.md", text)
    result = ClaimRunner().judge(entry, entry.claims[0])
    assert result.checks[1].check.metric == "nan" and not result.checks[1].holds


def test_missing_figure_is_an_error_result(tmp_path: Path) -> None:
    broken = parse_entry(
        tmp_path / "fake.md", ENTRY.format(second="< 100").replace("@test.b.bleu", "@test.c.bleu")
    )
    result = ClaimRunner().judge(broken, broken.claims[0])
    assert result.measured_verdict == "error" and "'c'" in result.error and not result.agrees


def test_full_mode_reads_results_file_else_quick(tmp_path: Path, monkeypatch) -> None:
    entry = _entry(tmp_path)
    runner = ClaimRunner(quick=False, results_root=tmp_path)
    absent = runner.judge(entry, entry.claims[0])
    assert absent.origin == "quick experiment (results/fake.json not yet measured)"
    (tmp_path / "results").mkdir()
    figures = {"test": {"a": {"bleu": 10.0}, "b": {"bleu": 20.0}}}
    (tmp_path / "results" / "fake.json").write_text(json.dumps(figures), encoding="utf-8")
    present = runner.judge(entry, entry.claims[0])
    assert present.origin == str(tmp_path / "results" / "fake.json")
    assert present.measured_verdict == "conditional"  # 10 > 20 fails, 10 < 100 holds


def test_results_file_lookup_order(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "repo"
    monkeypatch.setattr(claims_module, "repository_root", lambda: repo)
    (repo / "results").mkdir(parents=True)
    (repo / "results" / "t.json").write_text("{}", encoding="utf-8")
    assert find_results_file("results/t.json") == repo / "results" / "t.json"
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.json").write_text("{}", encoding="utf-8")
    assert find_results_file("results/t.json") == tmp_path / "results" / "t.json"  # cwd first
    assert find_results_file("results/t.json", root=repo) == repo / "results" / "t.json"
    assert find_results_file("results/none.json") is None


def test_a_results_only_claim_is_judged_from_its_file_in_both_modes(tmp_path: Path) -> None:
    text = ENTRY.format(second="< 25").replace(
        "    experiment: tests.notebook.test_claims_runner:fake_experiment\n", ""
    )
    entry = parse_entry(tmp_path / "fake.md", text)
    assert entry.claims[0].experiment == ""
    missing = ClaimRunner(quick=True, results_root=tmp_path).judge(entry, entry.claims[0])
    assert missing.measured_verdict == "error" and "results/fake.json: not found" in missing.error
    (tmp_path / "results").mkdir()
    figures = {"test": {"a": {"bleu": 24.0}, "b": {"bleu": 20.0}}}
    (tmp_path / "results" / "fake.json").write_text(json.dumps(figures), encoding="utf-8")
    for quick in (True, False):
        result = ClaimRunner(quick=quick, results_root=tmp_path).judge(entry, entry.claims[0])
        assert result.measured_verdict == "supported" and result.origin.endswith("fake.json")


def test_a_claim_needs_an_experiment_or_a_results_file(tmp_path: Path) -> None:
    text = ENTRY.format(second="< 25")
    text = text.replace("    experiment: tests.notebook.test_claims_runner:fake_experiment\n", "")
    text = text.replace("    results: results/fake.json\n", "")
    with pytest.raises(UserError, match="needs an 'experiment', a 'results' file, or both"):
        parse_entry(tmp_path / "fake.md", text)
