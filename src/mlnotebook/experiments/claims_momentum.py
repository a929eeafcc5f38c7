"""Does momentum damp the zig-zag across a ravine? Measured at a matched step, over a sweep.

The claim, as Polyak (1964) and Sutskever et al. (2013) mean it: on a ravine, plain
gradient descent bounces from wall to wall across the steep axis, while heavy-ball
momentum, whose velocity adds up the gradients that agree (along the floor) and
cancels those that flip sign (across it), crosses the ravine less for the same progress.

The metric is the *zig-zag*: distance travelled across the steep axis y per unit of
progress along the floor x,

    zigzag = sum_t |y_{t+1} - y_t| / |x_T - x_0|,

over the whole horizon. The protocol:

- **Matched step.** Momentum (beta = 0.9) runs at (1 - beta) times plain SGD's rate, so
  that its long-run step, lr / (1 - beta) times the gradient, equals plain SGD's.
- **Robustness sweep.** Plain SGD's rate runs over fractions of its stability limit
  2 / lambda_max (lambda_max = 15, the steep curvature): 0.1 to 0.975. Plain SGD's bounce
  across y has the factor 1 - lr * lambda_max per step, which shrinks fast at small rates
  and dies out slowly near the limit; so the answer can change along the sweep, and the
  sweep says where.
- **Each at its own best.** Each method's fastest-settling rate (`settling_step` of the
  loss within the ravine's tolerance): plain SGD's on the sweep, momentum's on a fine grid
  (10 per decade) up to its own limit 2 (1 + beta) / lambda_max.
- **Horizon.** Everything at H and 2H (`protocol.horizon_check`); a decision that changes
  makes the experiment's `horizon_stable` false and the claim inconclusive.
- **Seeds.** None are needed: the ravine is a separable quadratic and both methods are
  linear in (x, y), so y's travel scales with y_0 and x's progress with x_0, and the
  zig-zag *ratio* does not depend on the start point (tests check this). One run per
  setting, from the race's start (-8, 1).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from mlnotebook.experiments.protocol import horizon_check, log_grid, settling_step
from mlnotebook.experiments.race import oscillation_index, sweep_learning_rates
from mlnotebook.experiments.threads import one_thread
from mlnotebook.surfaces import RAVINE_B, SURFACES, Surface

MOMENTUM = 0.9  # the race's SGD+momentum setting
STEEP_CURVATURE = RAVINE_B  # lambda_max: the ravine's curvature along y
PLAIN_LIMIT = 2 / STEEP_CURVATURE  # plain SGD diverges above 2 / lambda_max
# Heavy ball diverges above 2 (1 + beta) / lambda_max.
MOMENTUM_LIMIT = 2 * (1 + MOMENTUM) / STEEP_CURVATURE

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975)
QUICK_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.9, 0.975)
HORIZON, QUICK_HORIZON = 500, 200


def zigzag(positions: torch.Tensor) -> torch.Tensor:
    """y travelled per unit of x progress, per run: `positions` [steps + 1, runs, 2] -> [runs]."""
    x, y = positions[..., 0], positions[..., 1]  # [steps + 1, runs] each
    # sum_t |y_{t+1} - y_t| / |x_T - x_0|
    return y.diff(dim=0).abs().sum(0) / (x[-1] - x[0]).abs().clamp_min(1e-12)


def _runs(surface: Surface, steps: int, fractions: tuple[float, ...], per_decade: int) -> dict:
    """Every run the experiment needs, `steps` long: the sweep at matched steps, momentum's grid."""
    plain_lrs = tuple(f * PLAIN_LIMIT for f in fractions)
    momentum_grid = log_grid(1e-3, MOMENTUM_LIMIT, per_decade)
    return {
        "plain": sweep_learning_rates(surface, "SGD", steps, plain_lrs),
        # (1 - beta) lr: the same long-run step as plain SGD at lr
        "matched": sweep_learning_rates(
            surface, "SGD+momentum", steps, tuple((1 - MOMENTUM) * lr for lr in plain_lrs)
        ),
        "momentum_grid": sweep_learning_rates(surface, "SGD+momentum", steps, momentum_grid),
    }


def _fastest(surface: Surface, sweep, horizon: int) -> dict:
    """The fastest-settling run of a sweep read up to `horizon` (ties: the smaller rate)."""
    settle = settling_step(surface.reached(sweep.losses[: horizon + 1]))  # [n_lr]
    order = [i for i in range(len(sweep.lrs)) if settle[i] >= 0]
    if not order:
        return {"lr": None, "steps_to_settle": None, "zigzag": None, "oscillation_index": None}
    best = min(order, key=lambda i: (int(settle[i]), sweep.lrs[i]))
    positions = sweep.positions[: horizon + 1, best : best + 1]  # [horizon + 1, 1, 2]
    return {
        "lr": sweep.lrs[best],
        "steps_to_settle": int(settle[best]),
        "zigzag": float(zigzag(positions)[0]),
        "oscillation_index": oscillation_index(positions[:, 0, 1]),
    }


def measure(runs: dict, surface: Surface, fractions: tuple[float, ...], horizon: int) -> dict:
    """The experiment's figures from the first `horizon` steps of `runs`."""
    plain_zz = zigzag(runs["plain"].positions[: horizon + 1])  # [n_fractions]
    matched_zz = zigzag(runs["matched"].positions[: horizon + 1])  # [n_fractions]
    sweep = [
        {
            "fraction_of_limit": f,
            "lr": lr,
            "lr_times_curvature": lr * STEEP_CURVATURE,
            "zigzag_plain": float(p),
            "zigzag_momentum": float(m),
            "ratio": float(m / p),
        }
        for f, lr, p, m in zip(fractions, runs["plain"].lrs, plain_zz, matched_zz, strict=True)
    ]
    plain = _fastest(surface, runs["plain"], horizon)
    momentum = _fastest(surface, runs["momentum_grid"], horizon)
    at_plain_best = next((row for row in sweep if row["lr"] == plain["lr"]), None)
    return {
        "sweep": sweep,
        "damped_share": sum(row["ratio"] < 1 for row in sweep) / len(sweep),
        "damps_from_lr_times_curvature": _damps_from(sweep),
        "ratio_matched_at_plain_best": at_plain_best["ratio"] if at_plain_best else None,
        "own_best": {
            "plain": plain,
            "momentum": momentum,
            "ratio": momentum["zigzag"] / plain["zigzag"]
            if plain["lr"] and momentum["lr"]
            else None,
        },
    }


def _damps_from(sweep: list[dict]) -> float | None:
    """Smallest lr * lambda_max from which momentum zig-zags less at every larger sweep point."""
    threshold = None
    for row in reversed(sweep):
        if row["ratio"] >= 1:
            break
        threshold = row["lr_times_curvature"]
    return threshold


def decisions(figures: dict) -> dict[str, bool]:
    """What the three momentum claims rest on, each a yes or no."""
    own = figures["own_best"]
    settle_plain, settle_momentum = (
        own["plain"]["steps_to_settle"],
        own["momentum"]["steps_to_settle"],
    )
    return {
        **{f"damped_at_{row['fraction_of_limit']}": row["ratio"] < 1 for row in figures["sweep"]},
        "damped_at_own_best": own["ratio"] is not None and own["ratio"] < 1,
        "momentum_settles_first": settle_momentum is not None
        and (settle_plain is None or settle_momentum < settle_plain),
        "plain_zigzags": (own["plain"]["oscillation_index"] or 0) > 2,
    }


def claim_momentum_damps_oscillation(quick: bool = True, start: tuple | None = None) -> dict:
    """Zig-zag of momentum vs plain SGD on the ravine: matched steps over a sweep, own bests.

    `start` replaces the ravine's start point (the tests use it to show the ratio does not
    depend on it).
    """
    fractions = QUICK_FRACTIONS if quick else FRACTIONS
    horizon = QUICK_HORIZON if quick else HORIZON
    surface = SURFACES["ravine"] if start is None else replace(SURFACES["ravine"], start=start)
    with one_thread():
        runs = _runs(surface, 2 * horizon, fractions, per_decade=4 if quick else 10)
        check = horizon_check(
            lambda h: measure(runs, surface, fractions, h), decisions, horizon=horizon
        )
    figures = check.at_horizon
    own = figures["own_best"]
    return {
        **check.figures(),
        "beta": MOMENTUM,
        "plain_limit": PLAIN_LIMIT,
        **figures,
        # Claim "plain SGD zig-zags": the race's oscillation index (y travel / net y change)
        # of plain SGD at its own best rate.
        "lr": own["plain"]["lr"],
        "oscillation_plain": own["plain"]["oscillation_index"],
    }
