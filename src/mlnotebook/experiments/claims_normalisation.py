"""Normalisation claims: batch norm's learning rates, dropout and initialisation; layer norm.

(a) `claim_batch_norm_sweep` reuses the batch-norm learning-rate sweep and dropout study
    (`bn_sweep.run_bn_sweep`) and returns its summary with the plot as SVG text.
(b) `claim_batch_norm_initialisation`: "with batch norm we can pay less attention to the
    initial weights." The digits MLP, with and without batch norm, starts from its
    default weights multiplied by 0.1, 1 and 10, and trains with the same SGD settings;
    we report test accuracy per scale and the spread across scales.
(c) `claim_layer_norm_batch_independent`: layer norm normalises each example over its own
    features, so an example's output does not depend on what else is in the batch;
    batch norm's does. Measured as the largest change in one example's output when its
    batch-mates are replaced.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch.nn import functional as F

from mlnotebook.experiments.bn_sweep import (
    BATCH_SIZE,
    build_mlp,
    load_digits_split,
    run_bn_sweep,
    test_accuracy,
)
from mlnotebook.nn.batch_norm import BatchNorm1d
from mlnotebook.nn.layer_norm import LayerNorm
from mlnotebook.optim import SGD

# ---- (a) the sweep ---------------------------------------------------------------------------


def claim_batch_norm_sweep(quick: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlnb-bn-") as folder:
        summary = run_bn_sweep(Path(folder), quick=quick)
        svg = (Path(folder) / "bn_sweep.svg").read_text(encoding="utf-8")
    sweep = summary["sweep"]
    summary["only_batch_norm_count"] = len(sweep["lrs_where_only_batch_norm_reaches_target"])
    summary["only_plain_count"] = len(sweep["lrs_where_only_plain_reaches_target"])
    # Learning rates where batch norm is not ahead after the same budget (speed of training).
    per_lr = zip(sweep["plain"]["per_lr"], sweep["batch_norm"]["per_lr"], strict=True)
    summary["lrs_where_plain_at_least_as_accurate"] = [
        p["lr"] for p, b in per_lr if p["mean_test_accuracy"] >= b["mean_test_accuracy"]
    ]
    summary["plain_at_least_as_accurate_count"] = len(
        summary["lrs_where_plain_at_least_as_accurate"]
    )
    dropout = summary["dropout"]
    # How much more dropout helps without batch norm than with it (accuracy points, 0..1).
    summary["dropout_gain_plain_minus_bn"] = (
        dropout["plain"]["dropout_gain"] - dropout["batch_norm"]["dropout_gain"]
    )
    summary["svg"] = {"bn_sweep.svg": svg}
    return summary


# ---- (b) initial weight scale ----------------------------------------------------------------

INIT_SCALES = (0.1, 1.0, 10.0)
INIT_LR = 0.1


def _train_scaled(batch_norm: bool, scale: float, epochs: int, seed: int = 0) -> float:
    split = load_digits_split()
    torch.manual_seed(seed)
    model = build_mlp(batch_norm=batch_norm)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(scale)  # W <- s W: the only difference between runs
    optimiser = SGD(model.parameters(), lr=INIT_LR)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(split.y_train), generator=generator)
        for start in range(0, len(order) - 1, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            loss = F.cross_entropy(model(split.x_train[index]), split.y_train[index])
            if not torch.isfinite(loss):
                return 0.0  # blown up: count as no better than nothing
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return test_accuracy(model, split)


def claim_batch_norm_initialisation(quick: bool = True) -> dict:
    epochs = 5 if quick else 20
    figures: dict = {"epochs": epochs, "lr": INIT_LR, "scales": list(INIT_SCALES)}
    for name, batch_norm in (("plain", False), ("batch_norm", True)):
        accuracies = [_train_scaled(batch_norm, s, epochs) for s in INIT_SCALES]
        figures[name] = {
            "test_accuracy_per_scale": accuracies,
            "worst": min(accuracies),
            "spread": max(accuracies) - min(accuracies),
        }
    # How much worse the worst scale is without batch norm than with it.
    figures["worst_gain"] = figures["batch_norm"]["worst"] - figures["plain"]["worst"]
    return figures


# ---- (c) layer norm and batch-mates ----------------------------------------------------------


@torch.no_grad()
def _largest_change(norm: torch.nn.Module, batch: torch.Tensor, others: torch.Tensor) -> float:
    norm.train()
    alone = norm(batch)[0]  # [features]: example 0 among its first batch-mates
    swapped = norm(torch.cat([batch[:1], others]))[0]  # example 0 among different ones
    return float((alone - swapped).abs().max())


def claim_layer_norm_batch_independent(quick: bool = True) -> dict:
    features = 16
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(8, features, generator=generator)  # [batch, features]
    others = 3 + 2 * torch.randn(7, features, generator=generator)  # different statistics
    return {
        "layer_norm_change": _largest_change(LayerNorm(features), batch, others),
        "batch_norm_change": _largest_change(BatchNorm1d(features), batch, others),
    }
