"""Two claims of the Muon entry, measured on small problems.

(a) `claim_newton_schulz_band`: "Five Newton-Schulz steps with Jordan's
    coefficients put every singular value of a matrix into roughly [0.7, 1.2]."
    We orthogonalise matrices of several kinds (random Gaussian, wide and
    square; matrices built with a chosen spread of singular values) and read
    the singular values of the result. "Roughly" is taken as [0.65, 1.25].
    The iteration multiplies a small singular value by about a = 3.4445 per
    step once the matrix is divided by its Frobenius norm, so the kinds differ
    in how small their smallest singular value is relative to that norm.

(b) `claim_muon_vs_adam`: "On a small network, Muon on the hidden matrices
    trains faster than Adam." A student MLP learns to classify points labelled
    by a random teacher MLP. Adam trains every parameter; the other run gives
    the hidden-to-hidden matrices to Muon and the first layer, last layer and
    biases to Adam (the usual split), with adjust_lr_fn="match_rms_adamw" so
    that one learning rate serves both halves. Each method runs at every rate
    of one grid, for several seeds; at each method's best rate (lowest mean
    final training loss) we compare the final training loss and test accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlnotebook.experiments.threads import one_thread
from mlnotebook.optim.adam import Adam
from mlnotebook.optim.muon import newton_schulz
from mlnotebook.translate.muon_with_fallback import MuonWithFallback

BAND = (0.65, 1.25)

# ---- (a) where Newton-Schulz puts the singular values -------------------------------------


def _with_spectrum(rows: int, cols: int, smallest: float, generator: torch.Generator):
    """A random matrix whose singular values fall geometrically from 1 to `smallest`."""
    left, _ = torch.linalg.qr(torch.randn(rows, rows, generator=generator))
    right, _ = torch.linalg.qr(torch.randn(cols, cols, generator=generator))
    rank = min(rows, cols)
    singular = torch.logspace(0, math.log10(smallest), rank)
    # M = U diag(s) V^T
    return (left[:, :rank] * singular) @ right[:, :rank].T


def _matrix_kinds(quick: bool) -> dict:
    """name -> function(generator) -> matrix."""
    kinds = {
        "gaussian_wide_32x128": lambda g: torch.randn(32, 128, generator=g),
        "gaussian_square_64": lambda g: torch.randn(64, 64, generator=g),
        "spread_1e-2_square_64": lambda g: _with_spectrum(64, 64, 1e-2, g),
        "spread_1e-3_square_64": lambda g: _with_spectrum(64, 64, 1e-3, g),
    }
    if not quick:
        kinds["gaussian_tall_512x128"] = lambda g: torch.randn(512, 128, generator=g)
        kinds["gaussian_square_256"] = lambda g: torch.randn(256, 256, generator=g)
    return kinds


def claim_newton_schulz_band(quick: bool = True) -> dict:
    """Per matrix kind: the lowest and highest singular value after 5 steps, over seeds."""
    seeds = 3 if quick else 10
    figures: dict = {"band": list(BAND), "seeds": seeds, "kinds": {}}
    highest_overall = 0.0
    with one_thread():
        for name, make in _matrix_kinds(quick).items():
            figures["kinds"][name] = _band_of(make, seeds)
            highest_overall = max(highest_overall, figures["kinds"][name]["highest"])
    figures["highest_overall"] = highest_overall
    return figures


def _band_of(make: Callable[[torch.Generator], torch.Tensor], seeds: int) -> dict:
    lowest, highest, inside, input_ratio = math.inf, 0.0, [], math.inf
    for seed in range(seeds):
        matrix = make(torch.Generator().manual_seed(seed))
        before = torch.linalg.svdvals(matrix)
        after = torch.linalg.svdvals(newton_schulz(matrix).float())
        lowest, highest = min(lowest, float(after.min())), max(highest, float(after.max()))
        inside.append(float(((after >= BAND[0]) & (after <= BAND[1])).float().mean()))
        # the smallest singular value once divided by the Frobenius norm
        input_ratio = min(input_ratio, float(before.min() / before.norm()))
    return {
        "lowest": lowest,
        "highest": highest,
        "share_in_band": sum(inside) / len(inside),
        "smallest_over_frobenius": input_ratio,
    }


# ---- (b) Muon against Adam on a small classifier --------------------------------------------

LR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
QUICK_LR_GRID = LR_GRID[1:5]
INPUTS, WIDTH, CLASSES = 16, 32, 4


def _mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(INPUTS, WIDTH),
        nn.Tanh(),
        nn.Linear(WIDTH, WIDTH),
        nn.Tanh(),
        nn.Linear(WIDTH, WIDTH),
        nn.Tanh(),
        nn.Linear(WIDTH, CLASSES),
    )


def _teacher_data(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I); y = argmax of a fixed random teacher network's outputs."""
    torch.manual_seed(1000)  # the same teacher for every split and seed
    teacher = _mlp()
    for layer in teacher:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=1.5 / layer.in_features**0.5)
    x = torch.randn(count, INPUTS, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return x, teacher(x).argmax(-1)


def _optimiser(method: str, model: nn.Sequential, lr: float) -> torch.optim.Optimizer:
    if method == "Adam":
        return Adam(model.parameters(), lr=lr)
    # hidden-to-hidden matrices (layers 2 and 4) to Muon; first and last layer, biases to Adam
    hidden = [model[2].weight, model[4].weight]
    rest = [p for p in model.parameters() if all(p is not h for h in hidden)]
    groups = [{"params": hidden, "use_muon": True}, {"params": rest, "use_muon": False}]
    return MuonWithFallback(
        groups, lr=lr, weight_decay=0.0, adjust_lr_fn="match_rms_adamw", fallback="adam"
    )


def _run(method: str, lr: float, seed: int, data: tuple, test: tuple, steps: int) -> dict:
    torch.manual_seed(seed)
    model = _mlp()
    optimiser = _optimiser(method, model, lr)
    x, y = data
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(0, len(y), (64,), generator=order)
        loss = F.cross_entropy(model(x[rows]), y[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        train_loss = float(F.cross_entropy(model(x), y))
        accuracy = float((model(test[0]).argmax(-1) == test[1]).float().mean())
    return {"train_loss": train_loss if math.isfinite(train_loss) else math.inf, "acc": accuracy}


def _best_rate(
    method: str, grid: tuple[float, ...], seeds: range, data: tuple, test: tuple, steps: int
) -> dict:
    best: dict = {"train_loss": math.inf}
    for lr in grid:
        runs = [_run(method, lr, seed, data, test, steps) for seed in seeds]
        mean_loss = sum(r["train_loss"] for r in runs) / len(runs)
        if mean_loss < best["train_loss"]:
            best = {
                "lr": lr,
                "train_loss": mean_loss,
                "test_accuracy": sum(r["acc"] for r in runs) / len(runs),
                "per_seed_loss": [r["train_loss"] for r in runs],
                "at_grid_edge": lr in (grid[0], grid[-1]),
            }
    return best


def claim_muon_vs_adam(quick: bool = True) -> dict:
    """Best-rate Adam against best-rate Muon+Adam on a teacher-student classifier."""
    steps, seeds = (150, range(3)) if quick else (600, range(5))
    grid = QUICK_LR_GRID if quick else LR_GRID
    with one_thread():
        data, test = _teacher_data(2048, seed=1), _teacher_data(2048, seed=2)
        adam = _best_rate("Adam", grid, seeds, data, test, steps)
        muon = _best_rate("Muon", grid, seeds, data, test, steps)
    wins = sum(m < a for m, a in zip(muon["per_seed_loss"], adam["per_seed_loss"], strict=True))
    return {
        "steps": steps,
        "seeds": len(seeds),
        "lr_grid": list(grid),
        "Adam": adam,
        "Muon": muon,
        "muon_over_adam_loss": muon["train_loss"] / adam["train_loss"],
        "muon_seeds_won": wins,
        "muon_minus_adam_accuracy": muon["test_accuracy"] - adam["test_accuracy"],
    }
