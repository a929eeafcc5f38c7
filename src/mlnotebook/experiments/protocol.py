"""The protocol a claim's experiment follows, as small pieces every experiment can reuse.

A claim is only tested fairly when its verdict does not hang on an arbitrary choice of
the experimenter. Three such choices recur, and each has a piece here:

- **The horizon.** A run cut at 200 steps can call an optimiser "never settles" that
  settles at 217, or "settled" one that blows up at 283. `horizon_check` measures at a
  horizon H and at 2H and reports whether the figures the verdict rests on (the
  *decisions*, named booleans) agree. An experiment returns `horizon_stable` as a
  figure, and its claim lists the premise `horizon_stable == true`, so a verdict that
  would change with a longer run comes out inconclusive instead of wrong.
- **Settling.** A run has *settled* from the first step after which it stays within
  tolerance to the end of the horizon (`settling_step`); passing through the band on
  the way elsewhere is not arriving. A run is *at rest* when, over a final window, both
  its steps and its gradients are below tolerance (`at_rest`): being inside a well while
  still bouncing from wall to wall is not rest.
- **Seeds.** Where randomness exists (random starts, sampled data, gradient noise), a
  figure is the mean over seeds with its 95 % t interval (`t_interval`), given as
  `{"mean", "low", "high"}` so that the claims engine decides only when the whole
  interval is on one side of the condition.

`log_grid` gives the fine learning-rate grids each method's best setting is chosen on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch
from scipy import stats
from torch import Tensor

Figures = TypeVar("Figures")


def log_grid(low: float, high: float, per_decade: int) -> tuple[float, ...]:
    """`per_decade` rates per factor of ten from `low` to `high`, both included."""
    if not 0 < low < high or per_decade < 1:
        raise ValueError(f"log_grid needs 0 < low < high and per_decade >= 1, got {low}, {high}")
    # lr_k = low * 10^(k / per_decade), k = 0 .. per_decade * log10(high / low)
    count = round(per_decade * math.log10(high / low))
    return tuple(low * 10 ** (k / per_decade) for k in range(count + 1))


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of `values` (one per seed) with its t interval; NaN bounds when it cannot exist.

    Fewer than two values, or a non-finite one, give NaN bounds, which the claims engine
    reads as "undecided". Identical values give a zero-width interval at the mean.
    """
    sample = np.asarray(values, dtype=float)
    mean = float(sample.mean()) if len(sample) else math.nan
    figure = {"mean": mean, "low": math.nan, "high": math.nan, "n": len(sample)}
    if len(sample) < 2 or not np.isfinite(sample).all():
        return figure
    # mean +- t_{(1 + c) / 2, n - 1} * s / sqrt(n)
    half = float(stats.t.ppf((1 + confidence) / 2, len(sample) - 1) * stats.sem(sample))
    return {**figure, "low": mean - half, "high": mean + half}


def settling_step(within: Tensor) -> Tensor:
    """First step from which `within` stays True to the end of the horizon; -1 if never.

    `within`: [steps + 1, ...] booleans (step 0 is the start); the result has the shape of
    the trailing dimensions, so a batch of runs is read at once.
    """
    steps = within.shape[0]
    # stays[t] = within[t] and within[t + 1] and ... and within[-1]
    stays = within.flip(0).int().cumprod(0).flip(0).bool()  # [steps + 1, ...]
    first = steps - stays.sum(0)  # the staying steps are a suffix
    return torch.where(first < steps, first, torch.full_like(first, -1))


def at_rest(
    positions: Tensor, gradients: Tensor, window: int, step_tol: float, grad_tol: float
) -> Tensor:
    """Whether each run stopped moving: over the final `window` steps every step's length
    and every gradient's size stay below tolerance.

    `positions`: [steps + 1, runs, dim]; `gradients`: [steps + 1, runs, dim]. Returns [runs].
    """
    tail = positions[-(window + 1) :]  # [window + 1, runs, dim]
    # |theta_{t+1} - theta_t| over the window
    step_norms = tail.diff(dim=0).norm(dim=-1)  # [window, runs]
    grad_norms = gradients[-(window + 1) :].norm(dim=-1)  # [window + 1, runs]
    still = (step_norms < step_tol).all(0) & (grad_norms < grad_tol).all(0)
    return still & torch.isfinite(positions[-1]).all(-1)


@dataclass(frozen=True)
class HorizonCheck(Generic[Figures]):
    """One measurement at a horizon and at twice that horizon, with its decisions at each."""

    horizon: int
    at_horizon: Figures
    at_double: Figures
    decisions: dict[str, bool]  # at the horizon
    decisions_doubled: dict[str, bool]  # at twice the horizon

    @property
    def changed(self) -> list[str]:
        """Names of the decisions that differ between the horizon and its double."""
        return [k for k in self.decisions if self.decisions[k] != self.decisions_doubled.get(k)]

    @property
    def stable(self) -> bool:
        return self.decisions.keys() == self.decisions_doubled.keys() and not self.changed

    def figures(self) -> dict:
        """What an experiment reports: both horizons, the verdict premise, what changed."""
        return {
            "horizon": self.horizon,
            "doubled_horizon": 2 * self.horizon,
            "horizon_stable": self.stable,
            "changed_when_doubled": self.changed,
            "decisions": self.decisions,
        }


def horizon_check(
    measure: Callable[[int], Figures],
    decide: Callable[[Figures], dict[str, bool]],
    horizon: int,
) -> HorizonCheck[Figures]:
    """Measure at `horizon` and `2 * horizon`; `decide` names the booleans a verdict rests on.

    `measure(h)` must be the whole experiment at horizon h (an experiment that already has
    a run of 2h steps can answer h by reading the first h steps of it).
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    at_horizon, at_double = measure(horizon), measure(2 * horizon)
    return HorizonCheck(horizon, at_horizon, at_double, decide(at_horizon), decide(at_double))
