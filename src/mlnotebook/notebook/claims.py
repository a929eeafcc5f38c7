"""Checking a claim: run its experiment, read the figure, compare with what the entry states.

A claim's experiment is a function `(quick: bool) -> dict`. Each check names a figure by
a dotted path into that dict (`surfaces.ravine.lower_vs_SGD`, list items by index) and a
condition on it. The measured verdict follows from the checks:

    all hold -> supported,   none hold -> contradicted,   some hold -> conditional.

A figure measured over seeds is given as an interval, `{"mean", "low", "high"}` (for
example a paired 95 % t interval of a difference). Its check is decided only when the
whole interval is on one side of the condition; an interval that straddles it (or has
NaN bounds: one seed) leaves the check undecided, "within the noise". A claim may also
list premises, checks that must hold for the experiment to test the claim at all (the
plain network trained well enough, the vocabulary covers the alphabet). Then:

    a premise fails               -> inconclusive (the experiment could not test it)
    some checks hold, some fail   -> conditional
    otherwise, any undecided      -> inconclusive (the difference is within the noise)

The check passes when the measured verdict equals the verdict the entry states. Several
claims often share one experiment (the race feeds three entries), so results are cached
per (experiment, mode) for the lifetime of one `ClaimRunner`.

Where a claim names a results file (full-run figures written by a long training run, such
as `results/translation.json`) and the runner is not in quick mode, the figures are read
from that file when it exists; when it does not, the quick experiment stands in and the
report says the full figure is not yet measured. A relative results path is looked up in
`ClaimRunner.results_root` when one is given (`mlnb notebook check --results DIR`), else
in the current directory and then in the repository root (the folder holding
`pyproject.toml` above `src/mlnotebook`, when the package runs from a checkout): the
acceptance runs write `results/translation.json` there.

A claim with a results file and no experiment (a study of hours of training, such as the
compute-matched budget study) is judged from that file in quick and full mode alike; a
missing file is an error, since nothing can stand in for it.

A check may compare one figure with another (`> @test.seq2seq.bleu`), so a claim such as
"attention beats the plain encoder-decoder" reads the same from the quick experiment and
from a results file with the same key layout.
"""

from __future__ import annotations

import json
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnotebook.errors import UserError
from mlnotebook.notebook.entry import Check, Claim, Entry
from mlnotebook.notebook.registry import resolve_object

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class CheckResult:
    check: Check
    measured: Any
    holds: bool
    compared_with: Any = None  # the other figure's value, for `> @other` conditions
    decided: bool = True  # False: the figure's interval straddles the condition's value

    @property
    def verb(self) -> str:
        return "within the noise of" if not self.decided else "holds" if self.holds else "fails"

    def text(self) -> str:
        """'label: metric = 0.12 (holds < 0.5)', naming the other figure's value if any."""
        label = f"{self.check.label}: " if self.check.label else ""
        condition = self.check.condition
        if self.check.reference:
            condition += f" = {format_figure(self.compared_with)}"
        figure = format_figure(self.measured)
        return f"{label}{self.check.metric} = {figure} ({self.verb} {condition})"


@dataclass(frozen=True)
class ClaimResult:
    entry: str  # slug
    claim: Claim
    checks: tuple[CheckResult, ...]
    measured_verdict: str
    origin: str  # "quick experiment", "full experiment" or the results file read
    error: str = ""  # set when the experiment or a metric could not be read
    reason: str = ""  # why the verdict is inconclusive, in words
    premises: tuple[CheckResult, ...] = ()

    @property
    def agrees(self) -> bool:
        return not self.error and self.measured_verdict == self.claim.verdict

    def figures_text(self) -> str:
        if self.error:
            return self.error
        premises = [f"premise: {p.text()}" for p in self.premises]
        return "; ".join([*premises, *(check.text() for check in self.checks)])


def format_figure(value: Any) -> str:
    if is_interval(value):  # {"mean", "low", "high"}: 0.12 [0.03, 0.2]
        low, high = (format_figure(value[k]) for k in ("low", "high"))
        return f"{format_figure(value['mean'])} [{low}, {high}]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def lookup_metric(figures: Any, metric: str) -> Any:
    """Follow a dotted path through nested dicts/lists; KeyError names the missing part."""
    value = figures
    for part in metric.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            value = value[int(part)]
        else:
            raise KeyError(f"metric {metric!r}: no {part!r} in the experiment's figures")
    return value


def is_interval(value: Any) -> bool:
    """A figure measured with its uncertainty: a dict with "mean", "low" and "high"."""
    return isinstance(value, dict) and {"mean", "low", "high"} <= value.keys()


def evaluate_interval(check: Check, interval: dict, other: Any) -> CheckResult:
    """An order condition on an interval: decided only when the whole interval satisfies it
    (holds) or the whole interval fails it (fails); NaN bounds (one seed) decide nothing."""
    op = _OPERATORS.get(check.operator)
    if check.operator in ("==", "!=") or not isinstance(other, int | float):
        raise KeyError(f"metric {check.metric!r} is an interval: compare it with <, <=, > or >=")
    low, high = float(interval["low"]), float(interval["high"])
    if math.isnan(low) or math.isnan(high):
        return CheckResult(check, interval, False, None, decided=False)
    holds_at = [op(low, other), op(high, other)]
    decided = holds_at[0] == holds_at[1]
    return CheckResult(check, interval, decided and holds_at[0], None, decided=decided)


def evaluate_check(check: Check, figures: Any) -> CheckResult:
    measured = lookup_metric(figures, check.metric)
    other = lookup_metric(figures, check.reference) if check.reference else check.value
    if is_interval(measured):
        return evaluate_interval(check, measured, other)
    compared_with = other if check.reference else None
    if any(isinstance(v, float) and math.isnan(v) for v in (measured, other)):
        return CheckResult(check, measured, False, compared_with)
    try:
        holds = bool(_OPERATORS[check.operator](measured, other))
    except TypeError:
        raise KeyError(
            f"metric {check.metric!r} = {measured!r} cannot be compared {check.condition}"
        ) from None
    return CheckResult(check, measured, holds, compared_with)


def repository_root() -> Path | None:
    """The checkout the package runs from (src layout), or None for an installed package."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def find_results_file(name: str, root: Path | None = None) -> Path | None:
    """Absolute paths as given; relative ones under `root`, else cwd then the repository."""
    path = Path(name)
    if path.is_absolute():
        candidates = [path]
    elif root is not None:
        candidates = [root / path]
    else:
        candidates = [Path.cwd() / path]
        if (repo := repository_root()) is not None:
            candidates.append(repo / path)
    return next((p for p in candidates if p.is_file()), None)


class _MissingResults(Exception):
    """A claim measured only by a study whose figures file is not there."""


def _read_results(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc


def verdict_of(
    results: tuple[CheckResult, ...], premises: tuple[CheckResult, ...] = ()
) -> tuple[str, str]:
    """(verdict, reason). A failed premise or an undecided check without a decided
    contradiction among the others -> inconclusive, with the reason in words.

        premise fails               -> inconclusive ("the experiment cannot test it")
        some hold and some fail     -> conditional   (whatever is undecided)
        any undecided               -> inconclusive  ("within the noise")
        all hold / all fail         -> supported / contradicted
    """
    failed = [p for p in premises if not (p.decided and p.holds)]
    if failed:
        return "inconclusive", "premise not met: " + "; ".join(p.text() for p in failed)
    decided = [r for r in results if r.decided]
    held = sum(r.holds for r in decided)
    if 0 < held < len(decided):
        return "conditional", ""
    undecided = [r for r in results if not r.decided]
    if undecided:
        return "inconclusive", "within the noise: " + "; ".join(r.text() for r in undecided)
    return ("supported" if held == len(results) else "contradicted"), ""


@dataclass
class ClaimRunner:
    """Runs experiments once each (per mode) and judges claims against the figures."""

    quick: bool = True
    results_root: Path | None = None  # where relative results files live; see module doc
    cache: dict[tuple[str, bool], dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # experiment -> time it took
    on_start: Callable[[str], None] | None = None  # progress hook: called before a new run

    def figures(self, experiment: str) -> dict:
        key = (experiment, self.quick)
        if key not in self.cache:
            function = resolve_object(experiment)
            if not callable(function):
                raise UserError(f"experiment {experiment!r} is not a function")
            if self.on_start:
                self.on_start(experiment)
            started = time.perf_counter()
            self.cache[key] = function(quick=self.quick)
            self.seconds[experiment] = time.perf_counter() - started
        return self.cache[key]

    def _source(self, claim: Claim) -> tuple[dict, str]:
        if not claim.experiment:  # measured only by a long study: its file in every mode
            return self._results_only(claim)
        if claim.results and not self.quick:
            path = find_results_file(claim.results, self.results_root)
            if path is not None:
                return _read_results(path), str(path)
            origin = f"quick experiment ({claim.results} not yet measured)"
            return self._quick_figures(claim.experiment), origin
        return self.figures(claim.experiment), "quick experiment" if self.quick else "experiment"

    def _results_only(self, claim: Claim) -> tuple[dict, str]:
        path = find_results_file(claim.results, self.results_root)
        if path is None:
            raise _MissingResults(f"{claim.results}: not found (its study has not run)")
        return _read_results(path), str(path)

    def _quick_figures(self, experiment: str) -> dict:
        was, self.quick = self.quick, True
        try:
            return self.figures(experiment)
        finally:
            self.quick = was

    def judge(self, entry: Entry, claim: Claim) -> ClaimResult:
        try:
            figures, origin = self._source(claim)
        except _MissingResults as exc:
            return ClaimResult(entry.slug, claim, (), "error", claim.results, error=str(exc))
        try:
            checks = tuple(evaluate_check(check, figures) for check in claim.checks)
            premises = tuple(evaluate_check(check, figures) for check in claim.premises)
        except KeyError as exc:
            return ClaimResult(entry.slug, claim, (), "error", origin, error=str(exc.args[0]))
        verdict, reason = verdict_of(checks, premises)
        return ClaimResult(entry.slug, claim, checks, verdict, origin, "", reason, premises)

    def judge_all(self, entries: list[Entry]) -> list[ClaimResult]:
        return [self.judge(entry, claim) for entry in entries for claim in entry.claims]
