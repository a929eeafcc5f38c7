"""Does gradient descent on a non-convex loss come to rest in a local minimum?

The claim, as the optimisation literature means it (Lee et al. 2016, "Gradient descent
only converges to minimizers"): with a step below 2 / L, L the largest curvature, the
iterates converge, and from almost every start to a local minimiser. So the question has
two parts, and both are measured:

- **At rest.** A run is at rest when it has stopped moving: over the final tenth of the
  horizon every step |x_{t+1} - x_t| stays below 1e-8 and every gradient below 1e-6
  (`protocol.at_rest`). Being inside a well while still bouncing from wall to wall is
  not rest.
- **In a local minimum.** Where it rests, the curvature f''(x) is positive.

On `claims_optimisers.two_wells` (a sharp well at -1, curvature about 44, and a flat one
at +1, curvature about 3, equally deep) with plain gradient descent:

- **Robustness sweep.** Rates four per decade from 0.0032 to 0.1, plus 0.9 and 1.1 times
  the sharp well's stability limit 2 / f''(-1) = 0.045, so that the sweep crosses the
  condition the theory names.
- **Seeds.** Each seed draws 40 starts uniformly in [-2.5, 2.5]; five seeds (quick:
  three); a share is given with its 95 % t interval over seeds.
- **Horizon.** 4,000 steps (quick: 1,000, with the sweep starting at 0.01, since the
  slowest rate sets how long a run needs to arrive), every decision read again at twice it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mlnotebook.experiments.claims_optimisers import (
    FLAT_CENTRE,
    FLAT_WIDTH,
    SHARP_CENTRE,
    SHARP_WIDTH,
    two_wells,
)
from mlnotebook.experiments.protocol import at_rest, horizon_check, log_grid, t_interval
from mlnotebook.experiments.race import make_optimiser
from mlnotebook.experiments.threads import one_thread

STEP_TOL, GRAD_TOL = 1e-8, 1e-6
WINDOW_SHARE = 0.1  # the final tenth of the horizon
STARTS_PER_SEED, SPAN = 40, 2.5
SEEDS, QUICK_SEEDS = tuple(range(5)), tuple(range(3))
HORIZON, QUICK_HORIZON = 4000, 1000
ALL_AT_REST = 0.99


def curvature(x: torch.Tensor) -> torch.Tensor:
    """f''(x) of the two-well loss, by differentiating twice."""
    x = x.detach().clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(two_wells(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(slope.sum(), x)
    return second


SHARP_LIMIT = float(2 / curvature(torch.tensor([SHARP_CENTRE], dtype=torch.float64))[0])


def sweep_rates(quick: bool) -> tuple[float, ...]:
    grid = log_grid(0.01, 0.1, 2) if quick else log_grid(10**-2.5, 0.1, 4)
    return tuple(sorted((*grid, 0.9 * SHARP_LIMIT, 1.1 * SHARP_LIMIT)))


def starts(seeds: Sequence[int]) -> torch.Tensor:
    """[n_seeds, STARTS_PER_SEED] start points, uniform in [-SPAN, SPAN], one row per seed."""
    rows = [
        torch.rand(STARTS_PER_SEED, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
        for s in seeds
    ]
    return torch.stack(rows) * 2 * SPAN - SPAN


def descend(lrs: Sequence[float], points: torch.Tensor, horizon: int) -> dict[int, tuple]:
    """Gradient descent from `points` at every rate, to twice `horizon`.

    Returns, for h = horizon and 2 horizon, the positions and gradients over the final
    window of h steps ([window + 1, n_lr, *points.shape] each); nothing else is kept.
    """
    params = [points.clone().requires_grad_(True) for _ in lrs]
    opt = make_optimiser(
        "SGD", [{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)]
    )
    windows = {h: (h - round(WINDOW_SHARE * h), h) for h in (horizon, 2 * horizon)}
    kept: dict[int, tuple[list, list]] = {h: ([], []) for h in windows}
    for step in range(2 * horizon + 1):
        opt.zero_grad()
        # the runs do not interact: d(sum_i f(x_i)) / dx_j = f'(x_j)
        sum(two_wells(p).sum() for p in params).backward()
        for h, (first, last) in windows.items():
            if first <= step <= last:
                kept[h][0].append(torch.stack([p.detach().clone() for p in params]))
                kept[h][1].append(torch.stack([p.grad.clone() for p in params]))
        if step < 2 * horizon:
            opt.step()
    return {h: (torch.stack(pos), torch.stack(grad)) for h, (pos, grad) in kept.items()}


def measure(window: tuple[torch.Tensor, torch.Tensor], lrs: Sequence[float]) -> dict:
    """Shares of runs at rest in a local minimum, per rate and below / above the limit."""
    positions, gradients = window  # [window + 1, n_lr, n_seeds, n_starts]
    n_lr, n_seeds, n_starts = positions.shape[1:]
    rest = at_rest(
        positions.reshape(-1, n_lr * n_seeds * n_starts, 1),
        gradients.reshape(-1, n_lr * n_seeds * n_starts, 1),
        window=positions.shape[0] - 1,
        step_tol=STEP_TOL,
        grad_tol=GRAD_TOL,
    ).reshape(n_lr, n_seeds, n_starts)
    in_minimum = rest & (curvature(positions[-1]) > 0)  # [n_lr, n_seeds, n_starts]
    share = in_minimum.double().mean(-1)  # [n_lr, n_seeds]
    # The old reading, "inside a well" at the end whether still moving or not.
    final = positions[-1]  # [n_lr, n_seeds, n_starts]
    in_well = ((final - SHARP_CENTRE).abs() < SHARP_WIDTH) | (
        (final - FLAT_CENTRE).abs() < FLAT_WIDTH
    )
    below = [i for i, lr in enumerate(lrs) if lr < SHARP_LIMIT]
    above = [i for i, lr in enumerate(lrs) if lr >= SHARP_LIMIT]
    return {
        "per_lr": [
            {
                "lr": lr,
                "rest_share": t_interval(share[i].tolist()),
                "in_a_well_share": float(in_well[i].double().mean()),
            }
            for i, lr in enumerate(lrs)
        ],
        "below_limit": {"lrs": len(below), "rest_share": t_interval(share[below].mean(0).tolist())},
        "above_limit": {"lrs": len(above), "rest_share": t_interval(share[above].mean(0).tolist())},
    }


def decisions(figures: dict) -> dict[str, bool]:
    """Per rate: did (nearly) every run come to rest in a local minimum?"""
    return {
        f"all_at_rest_at_{row['lr']:.4g}": row["rest_share"]["mean"] >= ALL_AT_REST
        for row in figures["per_lr"]
    }


def claim_descent_comes_to_rest(quick: bool = True) -> dict:
    """Gradient descent on two wells: share of runs at rest in a local minimum, per rate."""
    horizon = QUICK_HORIZON if quick else HORIZON
    seeds = QUICK_SEEDS if quick else SEEDS
    lrs = sweep_rates(quick)
    with one_thread():
        windows = descend(lrs, starts(seeds), horizon)
        check = horizon_check(lambda h: measure(windows[h], lrs), decisions, horizon)
    return {
        **check.figures(),
        "sharp_limit": SHARP_LIMIT,
        "seeds": len(seeds),
        "starts_per_seed": STARTS_PER_SEED,
        **check.at_horizon,
    }
