"""Helpers shared by the site tests: a small notebook in a temporary folder, and results.

The results are judged by the real code (`evaluate_check`, `verdict_of`) against figures
made up for the purpose, or made to pass outright, so the site's claim tables can be
tested in well under a second instead of running each experiment.
"""

from __future__ import annotations

from pathlib import Path

from mlnotebook.notebook.claims import CheckResult, ClaimResult, evaluate_check, verdict_of
from mlnotebook.notebook.entry import Entry
from mlnotebook.notebook.registry import Notebook, load_notebook

ALPHA = """---
term: Alpha step
aliases: [alpha]
code: [mlnotebook.optim.sgd:sgd_update]
related: [beta]
papers:
  - {title: "A paper on $\\\\alpha$", authors: A. Author, year: 2015, arxiv: "1412.6980"}
claims:
  - text: Alpha halves the loss.
    experiment: tests.notebook.site_helpers:made_up_experiment
    checks:
      - {metric: ratio, condition: "< 0.5", label: loss after / before}
    verdict: supported
    note: Only on the toy surface.
---
## Idea
Step along $-\\eta\\, g_t$; see [Beta](beta.md#idea) and the price `$5`.

## Equations
$$\\theta_{t+1} = \\theta_t - \\eta\\, g_t$$

![the loss curve](loss.svg)
"""

BETA = """---
term: Beta
related: [alpha]
---
## Idea
Beta is the other entry, with $\\beta = 0.9$ and *emphasis* kept.
"""

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" viewBox="0 0 120 60">'
    '<rect width="120" height="60" fill="#1f5fa8"/></svg>\n'
)


def small_notebook(folder: Path) -> Notebook:
    """Two entries (alpha, beta) and a figure file, written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alpha.md").write_text(ALPHA, encoding="utf-8")
    (folder / "beta.md").write_text(BETA, encoding="utf-8")
    (folder / "loss.svg").write_text(SVG, encoding="utf-8")
    return load_notebook(builtin_dir=folder)


def results_from(entries: list[Entry], figures: dict) -> list[ClaimResult]:
    """Judge every claim of `entries` against `figures`, read as every experiment's output."""
    results = []
    for entry in entries:
        for claim in entry.claims:
            checks = tuple(evaluate_check(check, figures) for check in claim.checks)
            origin = "made-up figures for the site tests"
            verdict, reason = verdict_of(checks)
            results.append(ClaimResult(entry.slug, claim, checks, verdict, origin, "", reason))
    return results


def passing_results(entries: list[Entry]) -> list[ClaimResult]:
    """Every check of every claim holds, with a made-up figure that satisfies it, so each
    measured verdict is 'supported' (and claims the entry states otherwise are disputed)."""
    results = []
    for entry in entries:
        for claim in entry.claims:
            checks = tuple(
                CheckResult(check, _satisfying(check.operator, check.value), True)
                for check in claim.checks
            )
            origin = "made-up figures for the site tests"
            results.append(ClaimResult(entry.slug, claim, checks, verdict_of(checks)[0], origin))
    return results


def _satisfying(operator: str, value: object) -> object:
    if operator in ("==", "<=", ">="):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"not {value}" if operator == "!=" else value
    return {"<": value - 1, ">": value + 1, "!=": value + 1}[operator]
