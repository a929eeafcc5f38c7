"""Full batch, mini-batch and stochastic gradient descent on one convex problem.

The notes claim that full-batch gradient descent reaches the global minimum of a convex
loss, and that using a subset of the examples per step is often more efficient. Both are
measured on least-squares linear regression, whose minimum we know exactly (the normal
equations), so "distance to the minimum" is a number, not a guess. All three feeds use
the same plain SGD update and the same learning rate, and run through `optim.fit`.

Figures: the gap `L(w) - L(w*)` after a short budget of epochs (the same number of
examples seen by each feed) and after a long one, and the loss curve per epoch.
"""

from __future__ import annotations

import torch
from torch import nn

from mlnotebook.optim import SGD
from mlnotebook.optim.fit import fit

N_EXAMPLES, N_FEATURES = 512, 8
LR = 0.05
SHORT_EPOCHS = 5
FEEDS = {"full": None, "mini_batch": 32, "stochastic": 1}


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Inputs [N, F], targets [N, 1], and the least-squares optimum's loss L(w*)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(N_EXAMPLES, N_FEATURES, generator=generator, dtype=torch.float64)
    true_weights = torch.randn(N_FEATURES, 1, generator=generator, dtype=torch.float64)
    noise = 0.1 * torch.randn(N_EXAMPLES, 1, generator=generator, dtype=torch.float64)
    targets = inputs @ true_weights + noise  # [N, 1]
    design = torch.cat([inputs, torch.ones(N_EXAMPLES, 1, dtype=torch.float64)], dim=1)
    # w* = argmin ||X w - y||^2 (with a bias column): the global minimum of a convex loss
    best = torch.linalg.lstsq(design, targets).solution  # [F + 1, 1]
    optimum = float(((design @ best - targets) ** 2).mean())
    return inputs, targets, optimum


def _train(batch_size: int | None, epochs: int) -> list[float]:
    inputs, targets, _ = _problem()
    torch.manual_seed(0)
    model = nn.Linear(N_FEATURES, 1).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    history = fit(
        model,
        SGD(model.parameters(), lr=LR),
        nn.functional.mse_loss,
        inputs,
        targets,
        epochs=epochs,
        batch_size=batch_size,
    )
    return history.epoch_losses


def claim_batch_sizes(quick: bool = True) -> dict:
    """Gap to the least-squares optimum per feed, after SHORT_EPOCHS and after a long run."""
    long_epochs = 200 if quick else 1000
    _, _, optimum = _problem()
    figures: dict = {"lr": LR, "short_epochs": SHORT_EPOCHS, "long_epochs": long_epochs}
    curves = {}
    for name, batch_size in FEEDS.items():
        epochs = long_epochs if name == "full" else max(SHORT_EPOCHS, long_epochs // 10)
        losses = _train(batch_size, epochs)
        curves[name] = losses
        figures[f"gap_{name}_short"] = losses[SHORT_EPOCHS] - optimum
        figures[f"gap_{name}_end"] = losses[-1] - optimum
        figures[f"epochs_{name}"] = epochs
    figures["optimum_loss"] = optimum
    figures["short_gap_ratio_mini_over_full"] = (
        figures["gap_mini_batch_short"] / figures["gap_full_short"]
    )
    figures["svg"] = {"gradient_descent_feeds.svg": _plot(curves, optimum)}
    return figures


def _plot(curves: dict[str, list[float]], optimum: float) -> str:
    from mlnotebook.experiments.claims_plots import new_axes, svg_text

    fig, ax = new_axes()
    for name, losses in curves.items():
        gaps = [max(loss - optimum, 1e-16) for loss in losses]
        ax.plot(range(len(gaps)), gaps, label=name.replace("_", "-"))
    ax.set_yscale("log")
    ax.set_xlabel("epoch (passes over the 512 examples)")
    ax.set_ylabel("training loss minus optimum")
    ax.set_title(f"Linear least squares, plain SGD update, lr {LR}")
    ax.legend()
    return svg_text(fig)
