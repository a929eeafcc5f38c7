"""Is RMSprop fast? Steps until it settles for good, against plain SGD, each at its best rate.

"Fast", as the notes and the lecture that introduced RMSprop mean it, is reaching the
minimum in fewer steps than plain gradient descent. On the race's four surfaces:

- **Metric.** Steps until the loss comes within the surface's tolerance *and stays there
  to the end of the horizon* (`protocol.settling_step`). RMSprop divides by a running
  mean of squared gradients that forgets: near a minimum the gradients fade, the divisor
  fades with them and the step grows again, so a run that was within tolerance can leave
  (on the ravine at lr 10 the loss was 1e-71 at step 200 and 2e4 by step 283).
- **Each at its best.** Each optimiser's fastest-settling rate on a fine grid, four rates
  per decade from 1e-4 to 10 (quick: the race's two per decade).
- **Horizon.** 2,000 steps, and every decision (does RMSprop settle before SGD, per
  surface) read again at 4,000 (quick: 1,000 and 2,000). The figures at the race's old
  200 steps are kept beside them, to show what the short horizon said.
- **Seeds.** None: the surfaces, starts and updates are deterministic, so one run per
  setting; what one start can and cannot show is said in the entry.
"""

from __future__ import annotations

from mlnotebook.experiments.protocol import horizon_check, log_grid, settling_step
from mlnotebook.experiments.race import LR_GRID, Sweep, sweep_learning_rates
from mlnotebook.experiments.threads import one_thread
from mlnotebook.surfaces import SURFACES

CONTENDERS = ("SGD", "RMSprop")
HORIZON, QUICK_HORIZON = 2000, 1000
OLD_HORIZON = 200  # the race's quick budget, which the claim was first judged at


def fastest(sweep: Sweep, horizon: int) -> dict:
    """Fastest-settling rate of `sweep` read up to `horizon`; None when no rate settles."""
    surface = SURFACES[sweep.surface]
    settle = settling_step(surface.reached(sweep.losses[: horizon + 1]))  # [n_lr]
    settled = [i for i in range(len(sweep.lrs)) if settle[i] >= 0]
    if not settled:
        return {"lr": None, "steps_to_settle": None, "settled_rates": 0}
    best = min(settled, key=lambda i: (int(settle[i]), sweep.lrs[i]))
    return {
        "lr": sweep.lrs[best],
        "steps_to_settle": int(settle[best]),
        "settled_rates": len(settled),
    }


def _first(rmsprop: dict, sgd: dict) -> bool:
    """RMSprop settled, and before plain SGD (which may not have settled at all)."""
    mine, theirs = rmsprop["steps_to_settle"], sgd["steps_to_settle"]
    return mine is not None and (theirs is None or mine < theirs)


def measure(sweeps: dict[str, dict[str, Sweep]], horizon: int) -> dict:
    """Per surface, each optimiser's fastest settling within `horizon`, and who was first."""
    surfaces = {
        name: {opt: fastest(sweeps[name][opt], horizon) for opt in CONTENDERS} for name in sweeps
    }
    first = {name: _first(s["RMSprop"], s["SGD"]) for name, s in surfaces.items()}
    return {
        "steps": horizon,
        "surfaces": surfaces,
        "rmsprop_first": first,
        "rmsprop_first_count": sum(first.values()),
    }


def left_tolerance(sweep: Sweep, horizon: int) -> int:
    """Runs that had settled at `horizon` but not any more at the end of the sweep."""
    surface = SURFACES[sweep.surface]
    early = settling_step(surface.reached(sweep.losses[: horizon + 1]))  # [n_lr]
    late = settling_step(surface.reached(sweep.losses))  # [n_lr]
    return int(((early >= 0) & (late < 0)).sum())


def claim_rmsprop_fast(quick: bool = True) -> dict:
    """RMSprop against plain SGD on the race surfaces: who settles for good first."""
    horizon = QUICK_HORIZON if quick else HORIZON
    grid = LR_GRID if quick else log_grid(1e-4, 10, 4)
    with one_thread():
        sweeps = {
            name: {opt: sweep_learning_rates(surface, opt, 2 * horizon, grid) for opt in CONTENDERS}
            for name, surface in SURFACES.items()
        }
    check = horizon_check(lambda h: measure(sweeps, h), lambda f: f["rmsprop_first"], horizon)
    old = measure(sweeps, OLD_HORIZON)
    return {
        **check.figures(),
        "lr_grid": list(grid),
        **check.at_horizon,
        "surfaces_at_double": check.at_double["surfaces"],
        # What 200 steps said, and how many RMSprop runs within tolerance then left it later.
        "at_old_horizon": {
            "steps": OLD_HORIZON,
            "rmsprop_first": old["rmsprop_first"],
            "rmsprop_first_count": old["rmsprop_first_count"],
            "rmsprop_runs_settled_then_left": {
                name: left_tolerance(sweeps[name]["RMSprop"], OLD_HORIZON) for name in sweeps
            },
        },
        "surfaces_count": len(SURFACES),
    }
