"""The fourth verdict: intervals that straddle the condition, NaN intervals, premises."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlnotebook.errors import UserError
from mlnotebook.notebook.claims import ClaimRunner, evaluate_check, verdict_of
from mlnotebook.notebook.entry import Check, parse_entry

FIGURES: dict = {}


def figures_experiment(quick: bool = True) -> dict:
    return FIGURES


def _interval(mean: float, low: float, high: float) -> dict:
    return {"mean": mean, "low": low, "high": high}


@pytest.mark.parametrize(
    ("interval", "operator", "decided", "holds"),
    [
        (_interval(0.5, 0.2, 0.8), ">", True, True),  # wholly above 0
        (_interval(-0.5, -0.8, -0.2), ">", True, False),  # wholly below
        (_interval(0.1, -0.2, 0.4), ">", False, False),  # straddles: within the noise
        (_interval(0.1, 0.0, 0.4), ">", False, False),  # touches 0: not clear of it
        (_interval(0.1, 0.0, 0.4), ">=", True, True),
        (_interval(-0.5, -0.8, -0.2), "<", True, True),
        (_interval(0.3, math.nan, math.nan), ">", False, False),  # one seed: no interval
    ],
)
def test_an_interval_decides_only_when_wholly_on_one_side(interval, operator, decided, holds):
    result = evaluate_check(Check("gain", operator, 0), {"gain": interval})
    assert (result.decided, result.holds) == (decided, holds)
    assert ("within the noise" in result.text()) == (not decided)


def test_an_interval_cannot_be_tested_for_equality():
    with pytest.raises(KeyError, match="is an interval"):
        evaluate_check(Check("gain", "==", 0), {"gain": _interval(0, -1, 1)})


def _checks(*states: tuple[bool, bool]):
    """CheckResults with the given (decided, holds)."""
    figures = {"x": 1.0, "y": _interval(0.0, -1.0, 1.0)}
    out = []
    for decided, holds in states:
        if decided:
            out.append(evaluate_check(Check("x", ">" if holds else "<", 0), figures))
        else:
            out.append(evaluate_check(Check("y", ">", 0), figures))
    return tuple(out)


@pytest.mark.parametrize(
    ("states", "verdict"),
    [
        (((True, True), (True, True)), "supported"),
        (((True, False), (True, False)), "contradicted"),
        (((True, True), (True, False)), "conditional"),
        (((True, True), (True, False), (False, False)), "conditional"),
        (((True, True), (False, False)), "inconclusive"),
        (((False, False),), "inconclusive"),
    ],
)
def test_verdict_rules(states, verdict):
    measured, reason = verdict_of(_checks(*states))
    assert measured == verdict
    assert (reason.startswith("within the noise")) == (verdict == "inconclusive")


def test_a_failed_premise_makes_any_result_inconclusive():
    held = _checks((True, True))
    premise = evaluate_check(
        Check("accuracy", ">", 0.95, "the plain net trained"), {"accuracy": 0.89}
    )
    verdict, reason = verdict_of(held, (premise,))
    assert verdict == "inconclusive"
    assert reason == "premise not met: the plain net trained: accuracy = 0.89 (fails > 0.95)"
    assert verdict_of(held, (evaluate_check(premise.check, {"accuracy": 0.97}),))[0] == "supported"


ENTRY = """\
---
term: Fake
claims:
  - text: dropout helps a network that trains well
    experiment: tests.notebook.test_inconclusive:figures_experiment
    premises:
      - {metric: plain.accuracy, condition: "> 0.95", label: the plain network trained}
    checks:
      - {metric: gain, condition: "> 0", label: accuracy gain from dropout}
    verdict: inconclusive
---
## Idea
x
"""


def test_the_runner_shows_the_premise_and_the_reason(tmp_path: Path):
    entry = parse_entry(tmp_path / "fake.md", ENTRY)
    FIGURES.clear()
    FIGURES.update({"plain": {"accuracy": 0.89}, "gain": _interval(0.004, 0.001, 0.007)})
    result = ClaimRunner(quick=True).judge(entry, entry.claims[0])
    assert result.measured_verdict == "inconclusive" and result.agrees
    assert "premise not met: the plain network trained" in result.reason
    assert result.figures_text().startswith("premise: the plain network trained")
    FIGURES["plain"]["accuracy"] = 0.97
    result = ClaimRunner(quick=True).judge(entry, entry.claims[0])
    assert result.measured_verdict == "supported" and not result.agrees


def test_premises_must_be_a_list(tmp_path: Path):
    start = ENTRY.index("    premises:")
    end = ENTRY.index("    checks:")
    text = ENTRY[:start] + "    premises: plain.accuracy\n" + ENTRY[end:]
    with pytest.raises(UserError, match="'premises' must be a list of checks"):
        parse_entry(tmp_path / "fake.md", text)
