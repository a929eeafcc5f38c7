"""Does Adagrad remove the need to tune the learning rate? Widths of the working range.

The notes (after Ruder's overview) say Adagrad "eliminates the need to manually tune
the learning rate; most implementations use a default of 0.01". Duchi, Hazan and Singer
claim less: per-coordinate steps make the method far less *sensitive* to the rate. Both
readings are measured here, each against plain SGD:

- **Metric.** The width, in decades, of the set of grid rates that *work*: count of
  working rates / rates per decade. On the race's four surfaces a rate works when the
  loss settles within tolerance for good (`protocol.settling_step`) within the horizon.
  On the sparse regression of `claims_adaptive` (40 binary features firing with
  probability 1/2 down to 1/200, noise-free targets) a rate works when the test loss is
  at most 1 % of the loss of predicting zero (R^2 >= 0.99). And, separately, whether
  the default 0.01 works.
- **Grid.** The same fine grid for both: four rates per decade (quick: two), 1e-4 to 100
  on the surfaces and 1e-3 to 100 on the regression. Adagrad still works at 100 on the
  ravine and the regression, so its width there is cut off by the grid: an underestimate.
- **Horizon.** Surfaces 2,000 steps, regression 10 epochs (quick: 1,000 steps, 3
  epochs); every decision is read again at twice the horizon.
- **Seeds.** The regression's weights, data and batch order are random: five seeds
  (quick: three), and the width gain (Adagrad minus SGD, paired by seed) is given with
  its 95 % t interval. The surfaces are deterministic: one run per rate.

Far from the minimum the default is decided by geometry, not by Adagrad: each step moves
a coordinate by lr g_t / sqrt(sum of g_s^2) <= lr, about 2 lr sqrt(T) in all while the
gradient keeps its size. At 0.01 over 2,000 steps no coordinate travelled more than 1.1
on any surface, while the race's starts lie 1.4 to 8 units from the minima.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mlnotebook.experiments.claims_adaptive import BATCH, FEATURES, feature_rates
from mlnotebook.experiments.protocol import horizon_check, log_grid, settling_step, t_interval
from mlnotebook.experiments.race import Sweep, make_optimiser, sweep_learning_rates
from mlnotebook.experiments.threads import one_thread
from mlnotebook.surfaces import SURFACES

CONTENDERS = ("SGD", "Adagrad")
DEFAULT_LR = 0.01
WORKS_BELOW = 0.01  # test loss / loss of predicting zero
SURFACE_HORIZON, QUICK_SURFACE_HORIZON = 2000, 1000
EPOCHS, QUICK_EPOCHS = 10, 3
SEEDS, QUICK_SEEDS = tuple(range(5)), tuple(range(3))


# ---- the race surfaces ------------------------------------------------------------------------


def working_rates(sweep: Sweep, horizon: int) -> list[float]:
    """Rates whose loss settled within tolerance for good by `horizon`."""
    surface = SURFACES[sweep.surface]
    settle = settling_step(surface.reached(sweep.losses[: horizon + 1]))  # [n_lr]
    return [lr for lr, step in zip(sweep.lrs, settle.tolist(), strict=True) if step >= 0]


def _has_default(rates: Sequence[float]) -> bool:
    return any(math.isclose(lr, DEFAULT_LR) for lr in rates)


def measure_surfaces(sweeps: dict, per_decade: int, horizon: int) -> dict:
    figures: dict = {}
    for name, by_opt in sweeps.items():
        works = {opt: working_rates(by_opt[opt], horizon) for opt in CONTENDERS}
        figures[name] = {
            **{f"{opt}_width_decades": len(works[opt]) / per_decade for opt in CONTENDERS},
            **{f"{opt}_range": [min(r), max(r)] if r else None for opt, r in works.items()},
            "adagrad_default_works": _has_default(works["Adagrad"]),
            "adagrad_at_least_as_wide": len(works["Adagrad"]) >= len(works["SGD"]),
        }
    return {
        "per_surface": figures,
        "default_works_share": _share(f["adagrad_default_works"] for f in figures.values()),
        "at_least_as_wide_share": _share(f["adagrad_at_least_as_wide"] for f in figures.values()),
    }


def _share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags)


# ---- the sparse regression --------------------------------------------------------------------


def sparse_task(seed: int, count: int = 2000) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test): binary sparse features, y = x w*, w* ~ N(0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    true_weights = torch.randn(FEATURES, generator=generator, dtype=torch.float64)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(count, FEATURES, generator=generator, dtype=torch.float64)
        x = (x < feature_rates()).double()  # [count, d]: feature j fires with p_j
        return x, x @ true_weights

    return (*draw(), *draw())


def train_sparse(
    optimiser: str, lrs: Sequence[float], seed: int, checkpoints: Sequence[int]
) -> dict[int, list[float]]:
    """Relative test loss of every rate at each checkpoint epoch (inf once diverged)."""
    x, y, x_test, y_test = sparse_task(seed)
    weights = [torch.zeros(FEATURES, dtype=torch.float64, requires_grad=True) for _ in lrs]
    opt = make_optimiser(
        optimiser, [{"params": [w], "lr": lr} for w, lr in zip(weights, lrs, strict=True)]
    )
    order_generator = torch.Generator().manual_seed(10_000 + seed)
    baseline = float(y_test.pow(2).mean())  # the loss of predicting zero
    scores: dict[int, list[float]] = {}
    for epoch in range(1, max(checkpoints) + 1):
        order = torch.randperm(len(y), generator=order_generator)
        for start in range(0, len(y), BATCH):
            rows = order[start : start + BATCH]
            stacked = torch.stack(weights)  # [n_lr, d]
            # L_k(w_k) = mean_i (x_i w_k - y_i)^2, one loss per rate; summed, they do not mix
            losses = (x[rows] @ stacked.T - y[rows, None]).pow(2).mean(0)  # [n_lr]
            opt.zero_grad()
            losses.sum().backward()
            for w, value in zip(weights, losses.tolist(), strict=True):
                if not math.isfinite(value):
                    w.grad = None  # diverged: leave it where it blew up
            opt.step()
        if epoch in checkpoints:
            with torch.no_grad():
                test = (x_test @ torch.stack(weights).T - y_test[:, None]).pow(2).mean(0)
            scores[epoch] = [v / baseline if math.isfinite(v) else math.inf for v in test.tolist()]
    return scores


def measure_sparse(runs: dict, lrs: Sequence[float], per_decade: int, epochs: int) -> dict:
    """Per seed, the width of each optimiser's working range; the paired gain with interval."""
    widths: dict[str, list[float]] = {opt: [] for opt in CONTENDERS}
    ranges: dict[str, list] = {opt: [] for opt in CONTENDERS}
    default_works = []
    for seed_runs in runs.values():
        for opt in CONTENDERS:
            works = [
                lr for lr, v in zip(lrs, seed_runs[opt][epochs], strict=True) if v <= WORKS_BELOW
            ]
            widths[opt].append(len(works) / per_decade)
            ranges[opt].append([min(works), max(works)] if works else None)
            if opt == "Adagrad":
                default_works.append(_has_default(works))
    gains = [a - s for a, s in zip(widths["Adagrad"], widths["SGD"], strict=True)]
    return {
        "epochs": epochs,
        "width_decades": {opt: t_interval(w) for opt, w in widths.items()},
        "ranges_per_seed": ranges,
        "width_gain_decades": t_interval(gains),
        "default_works_share": _share(default_works),
    }


# ---- the claim -------------------------------------------------------------------------------


def decisions(figures: dict) -> dict[str, bool]:
    surfaces, sparse = figures["surfaces"], figures["sparse"]
    gain = sparse["width_gain_decades"]
    return {
        **{
            f"{n}.default_works": f["adagrad_default_works"]
            for n, f in surfaces["per_surface"].items()
        },
        **{
            f"{n}.at_least_as_wide": f["adagrad_at_least_as_wide"]
            for n, f in surfaces["per_surface"].items()
        },
        "sparse.default_works_everywhere": sparse["default_works_share"] >= 1,
        "sparse.wider_clear_of_noise": gain["low"] > 0,
    }


def claim_adagrad_default_lr(quick: bool = True) -> dict:
    """Adagrad vs SGD: width of the range of rates that work, and whether 0.01 works."""
    per_decade = 2 if quick else 4
    horizon = QUICK_SURFACE_HORIZON if quick else SURFACE_HORIZON
    epochs = QUICK_EPOCHS if quick else EPOCHS
    surface_grid, sparse_grid = log_grid(1e-4, 100, per_decade), log_grid(1e-3, 100, per_decade)
    with one_thread():
        sweeps = {
            name: {o: sweep_learning_rates(s, o, 2 * horizon, surface_grid) for o in CONTENDERS}
            for name, s in SURFACES.items()
        }
        sparse_runs = {
            seed: {o: train_sparse(o, sparse_grid, seed, (epochs, 2 * epochs)) for o in CONTENDERS}
            for seed in (QUICK_SEEDS if quick else SEEDS)
        }

    # The two parts have different horizons (steps, epochs), so horizon_check doubles a
    # common scale: 1 is the horizon of each part, 2 twice it.
    def measure(scale: int) -> dict:
        return {
            "surfaces": measure_surfaces(sweeps, per_decade, scale * horizon),
            "sparse": measure_sparse(sparse_runs, sparse_grid, per_decade, scale * epochs),
        }

    check = horizon_check(measure, decisions, horizon=1)
    return {
        **check.figures(),
        "horizon": {"surface_steps": horizon, "sparse_epochs": epochs},
        "doubled_horizon": {"surface_steps": 2 * horizon, "sparse_epochs": 2 * epochs},
        "default_lr": DEFAULT_LR,
        "rates_per_decade": per_decade,
        "surface_grid": [surface_grid[0], surface_grid[-1]],
        "sparse_grid": [sparse_grid[0], sparse_grid[-1]],
        "seeds": len(sparse_runs),
        **check.at_horizon,
    }
