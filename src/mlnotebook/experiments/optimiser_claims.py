"""The notebook's claims about optimisers, each turned into a measurement.

The optimiser entries make claims that are usually repeated without numbers.
Each function below runs one small, seeded, deterministic experiment and returns
the figures as a plain dict, so the notebook can quote them and the tests can pin
what was measured (including where a claim does *not* hold). (Momentum and the
ravine moved to `claims_momentum`, measured at a matched step over a sweep.)

(b) `claim_adaptive_step_sizes`: Adagrad's per-parameter step size only ever
    shrinks, while RMSprop's and Adadelta's grow again when gradients shrink.
    Measured on a linear loss whose slope drops 100x halfway through, reading
    each step size from the optimiser's own state.
(c) `claim_adam_vs_sgd`: Adam beats SGD and SGD with momentum. Measured on every
    race surface, each optimiser at its best stable learning rate, by who settles
    within tolerance first and who ends lower.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mlnotebook.experiments.race import (
    LR_GRID,
    QUICK_STEPS,
    STEPS,
    RaceEntry,
    make_optimiser,
    race,
)
from mlnotebook.surfaces import SURFACES


def _steps(quick: bool) -> int:
    return QUICK_STEPS if quick else STEPS


# ---- (b) adaptive step sizes ----------------------------------------------------------------

# Slope of the linear loss per coordinate; the second parameter sees 10x smaller gradients.
SLOPE = (1.0, 0.1)
# Factor applied to the loss in the second half of the run.
LATE_SCALE = 0.01


def _effective_adagrad(state: dict, group: dict) -> torch.Tensor:
    # eta_t = lr / (sqrt(sum_{s<=t} g_s^2) + eps)
    return group["lr"] / (state["sum"].sqrt() + group["eps"])


def _effective_rmsprop(state: dict, group: dict) -> torch.Tensor:
    # eta_t = lr / (sqrt(v_t) + eps),  v_t = alpha v_{t-1} + (1 - alpha) g_t^2
    return group["lr"] / (state["square_avg"].sqrt() + group["eps"])


def _effective_adadelta(state: dict, group: dict, acc_delta_before: torch.Tensor) -> torch.Tensor:
    # eta_t = lr * sqrt(u_{t-1} + eps) / sqrt(v_t + eps): u is the running mean of squared
    # updates *before* this step, v the running mean of squared gradients after it.
    return (
        group["lr"]
        * (acc_delta_before + group["eps"]).sqrt()
        / (state["square_avg"] + group["eps"]).sqrt()
    )


def record_effective_lr(optimiser: str, steps: int) -> dict:
    """Per-step, per-parameter step size of `optimiser` (torch defaults) on the switching loss.

    The loss is `c_t * (SLOPE . w)`, so the gradient is exactly `c_t * SLOPE` whatever w is:
    c_t = 1 for the first half of the run and LATE_SCALE after. Returns the step sizes read
    from the optimiser's state, `[steps, 2]`, and the ones observed from the parameter's
    movement (`-delta_w / g`), which must agree.
    """
    weights = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    slope = torch.tensor(SLOPE, dtype=torch.float64)
    opt = make_optimiser(optimiser, [{"params": [weights]}])
    group = opt.param_groups[0]
    from_state, observed = [], []
    for step in range(steps):
        scale = 1.0 if step < steps // 2 else LATE_SCALE
        opt.zero_grad()
        (scale * (slope * weights).sum()).backward()
        before = weights.detach().clone()
        acc_delta_before = _adadelta_acc_before(opt.state[weights], weights)
        opt.step()
        state = opt.state[weights]
        from_state.append(_read_effective(optimiser, state, group, acc_delta_before))
        observed.append((before - weights.detach()) / weights.grad)
    return {
        "optimiser": optimiser,
        "lr": group["lr"],
        "switch_step": steps // 2,
        "from_state": torch.stack(from_state),  # [steps, 2]
        "observed": torch.stack(observed),  # [steps, 2]
    }


def _adadelta_acc_before(state: dict, weights: torch.Tensor) -> torch.Tensor:
    # Adadelta's running mean of squared updates starts at zero before the first step.
    return state["acc_delta"].clone() if "acc_delta" in state else torch.zeros_like(weights)


def _read_effective(
    optimiser: str, state: dict, group: dict, acc_delta_before: torch.Tensor
) -> torch.Tensor:
    if optimiser == "Adagrad":
        return _effective_adagrad(state, group)
    if optimiser == "RMSprop":
        return _effective_rmsprop(state, group)
    if optimiser == "Adadelta":
        return _effective_adadelta(state, group, acc_delta_before)
    raise ValueError(f"no effective-step-size reader for optimiser {optimiser!r}")


def _summarise_effective(series: torch.Tensor, switch_step: int) -> dict:
    """Does the step size ever rise, and how much did it change across the gradient drop?"""
    change = series[1:] / series[:-1]  # [steps - 1, 2] step-to-step factor
    rising = change > 1 + 1e-12  # [steps - 1, 2]
    return {
        "ever_rises": bool(rising.any()),
        # change[t] compares step t + 1 with step t, so the drop's first step is change[switch - 1]
        "rises_before_drop": bool(rising[: switch_step - 1].any()),
        "rises_after_drop": bool(rising[switch_step - 1 :].any()),
        "largest_step_factor": change.max(dim=0).values.tolist(),
        # eta just before the drop vs eta at the end of the run, per parameter
        "before_drop": series[switch_step - 1].tolist(),
        "at_end": series[-1].tolist(),
        "end_over_before_drop": (series[-1] / series[switch_step - 1]).tolist(),
    }


def claim_adaptive_step_sizes(quick: bool = True) -> dict:
    """Adagrad's effective lr only shrinks; RMSprop's and Adadelta's rise when gradients shrink."""
    steps = _steps(quick)
    figures: dict = {"steps": steps, "slope": SLOPE, "late_scale": LATE_SCALE}
    for optimiser in ("Adagrad", "RMSprop", "Adadelta"):
        record = record_effective_lr(optimiser, steps)
        figures[optimiser] = {
            "lr": record["lr"],
            **_summarise_effective(record["from_state"], record["switch_step"]),
            "series": record["from_state"].tolist(),
        }
    return figures


# ---- (c) Adam against SGD -------------------------------------------------------------------

CONTENDERS = ("SGD", "SGD+momentum", "Adam")
# Final losses this close to the minimum are both at the floor of what the race can tell apart.
FLOOR = 1e-12


def claim_adam_vs_sgd(quick: bool = True) -> dict:
    """Per surface, at best stable lrs: who settles first and who ends lower, Adam or SGD(+mom)."""
    result = race(optimisers=CONTENDERS, steps=_steps(quick))
    figures: dict = {"steps": result.steps, "lr_grid": list(LR_GRID), "surfaces": {}}
    for name in SURFACES:
        entries = {e.optimiser: e for e in result.entries if e.surface == name}
        adam = entries["Adam"]
        figures["surfaces"][name] = {
            "runs": {opt: _entry_figures(entry) for opt, entry in entries.items()},
            **{
                f"{kind}_vs_{rival}": judge(adam, entries[rival])
                for rival in ("SGD", "SGD+momentum")
                for kind, judge in (("settles_first", _settles_first), ("lower", _lower))
            },
        }
    return figures


def _entry_figures(entry: RaceEntry) -> dict:
    best = entry.best
    if best is None:
        return {"lr": None, "steps_to_tolerance": None, "final_gap": None}
    return {
        "lr": best.lr,
        "steps_to_tolerance": best.steps_to_tolerance,
        "final_gap": best.final_gap,
    }


def _settles_first(a: RaceEntry, b: RaceEntry) -> str:
    """Name of the entry that settles within tolerance first, or 'tie'."""
    return _winner(a, b, lambda e: _or_inf(e.best.steps_to_tolerance if e.best else None))


def _lower(a: RaceEntry, b: RaceEntry) -> str:
    """Name of the entry with the lower final gap to the minimum, or 'tie' (both at the floor)."""
    return _winner(a, b, lambda e: max(e.best.final_gap, FLOOR) if e.best else math.inf)


def _winner(a: RaceEntry, b: RaceEntry, score: Callable[[RaceEntry], float]) -> str:
    score_a, score_b = score(a), score(b)
    if score_a == score_b:
        return "tie"
    return a.optimiser if score_a < score_b else b.optimiser


def _or_inf(value: int | None) -> float:
    return math.inf if value is None else value
