"""Adagrad on sparse data, a claim the notes make about the adaptive optimisers.

(a) `claim_adagrad_sparse`: "Adagrad works really well for sparse data." A linear
    regression whose 40 binary features fire with probabilities falling geometrically
    from 1/2 to 1/200, so that most features are rare, as words in text are. Plain
    mini-batch SGD and Adagrad each run at every rate of the race's grid; at each one's
    best rate (lowest final training loss) we compare the test loss and the error in the
    weights of the rarest quarter of the features. If the claim holds, Adagrad's rare
    weights are nearer the truth: a rare feature's weight gets few gradients, and
    Adagrad's per-weight step stays large for exactly those.

(RMSprop's speed moved to `claims_rmsprop`, judged on settling for good.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mlnotebook.experiments.race import LR_GRID
from mlnotebook.optim.adagrad import Adagrad
from mlnotebook.optim.sgd import SGD

# ---- (a) Adagrad on sparse features ----------------------------------------------------------

FEATURES = 40
BATCH = 16
RARE_SHARE = 0.25  # the rarest quarter of the features


def feature_rates() -> torch.Tensor:
    """p_j = 0.5 * (1/100)^(j / (d - 1)): from 1/2 down to 1/200."""
    j = torch.arange(FEATURES, dtype=torch.float64)
    return 0.5 * 0.01 ** (j / (FEATURES - 1))


def sparse_data(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x [count, d] binary, y = x w* [count], and w* ~ N(0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, FEATURES, generator=generator, dtype=torch.float64) < feature_rates()
    true_weights = torch.randn(FEATURES, generator=torch.Generator().manual_seed(0))
    x = x.double()
    return x, x @ true_weights.double(), true_weights.double()


def _train(name: str, lr: float, x: torch.Tensor, y: torch.Tensor, epochs: int) -> torch.Tensor:
    weights = torch.zeros(FEATURES, dtype=torch.float64, requires_grad=True)
    optimiser = SGD([weights], lr=lr) if name == "SGD" else Adagrad([weights], lr=lr)
    generator = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), BATCH):
            rows = order[start : start + BATCH]
            # L(w) = mean_i (x_i w - y_i)^2 over the mini-batch
            loss = F.mse_loss(x[rows] @ weights, y[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return weights.detach()


def _best_run(name: str, data: tuple, test: tuple, epochs: int) -> dict:
    x, y, true_weights = data
    rare = torch.arange(FEATURES) >= round(FEATURES * (1 - RARE_SHARE))
    best: dict = {}
    for lr in LR_GRID:
        weights = _train(name, lr, x, y, epochs)
        train_loss = float(F.mse_loss(x @ weights, y))
        if not math.isfinite(train_loss) or train_loss >= best.get("train_loss", math.inf):
            continue
        best = {
            "lr": lr,
            "train_loss": train_loss,
            "test_loss": float(F.mse_loss(test[0] @ weights, test[1])),
            # root-mean-square error of the rare features' weights
            "rare_weight_error": float((weights - true_weights)[rare].pow(2).mean().sqrt()),
        }
    return best


def claim_adagrad_sparse(quick: bool = True) -> dict:
    """Best-rate SGD against best-rate Adagrad on sparse binary features."""
    epochs = 3 if quick else 20
    data, test = sparse_data(2000, seed=1), sparse_data(2000, seed=2)
    figures: dict = {"epochs": epochs, "features": FEATURES, "lr_grid": list(LR_GRID)}
    figures["rate_range"] = [float(feature_rates()[-1]), float(feature_rates()[0])]
    for name in ("SGD", "Adagrad"):
        figures[name] = _best_run(name, data, test[:2], epochs)
    return figures
