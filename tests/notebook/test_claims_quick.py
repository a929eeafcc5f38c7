"""Every claim of every built-in entry, measured by its experiment in quick mode.

The acceptance test of the notebook: the verdict the measurement gives (supported,
contradicted or conditional) must be the verdict the entry states. When one disagrees
the entry is wrong about our own measurement and must be corrected; the experiment and
its condition are not to be tuned until the claim passes.

All experiments run once each (the runner caches per experiment), about two and a half
minutes on one CPU thread.
"""

from __future__ import annotations

import pytest

from mlnotebook.notebook.claims import ClaimRunner
from mlnotebook.notebook.registry import load_notebook

NOTEBOOK = load_notebook()
CLAIMS = [(entry, claim) for entry in NOTEBOOK.entries.values() for claim in entry.claims]


@pytest.fixture(scope="module")
def runner() -> ClaimRunner:
    return ClaimRunner(quick=True)


@pytest.mark.parametrize(
    ("entry", "claim"), CLAIMS, ids=[f"{e.slug}:{c.text[:40]}" for e, c in CLAIMS]
)
def test_measured_verdict_is_the_stated_one(runner: ClaimRunner, entry, claim) -> None:
    result = runner.judge(entry, claim)
    assert result.error == "", result.error
    assert result.measured_verdict == claim.verdict, (
        f"{entry.path}: '{claim.text}' states {claim.verdict}, measured "
        f"{result.measured_verdict}: {result.figures_text()}"
    )


def test_quick_mode_never_reads_results_files(runner: ClaimRunner) -> None:
    """A claim with an experiment runs it in quick mode; only a claim measured by a long
    study alone (no experiment) is read from its results file."""
    with_both = [(e, c) for e, c in CLAIMS if c.results and c.experiment]
    assert with_both, "the translation claims name results/translation.json"
    for entry, claim in with_both:
        assert runner.judge(entry, claim).origin == "quick experiment"
    for entry, claim in [(e, c) for e, c in CLAIMS if not c.experiment]:
        assert runner.judge(entry, claim).origin.endswith(claim.results)
