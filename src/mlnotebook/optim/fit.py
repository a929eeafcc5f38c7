"""Full-batch, mini-batch and stochastic gradient descent: one update, three feeds.

Gradient descent needs the gradient of the loss over the training set. Full
batch computes it exactly, once per epoch; mini-batch estimates it from
`batch_size` random examples, many times per epoch; stochastic gradient
descent is the case `batch_size = 1`. The optimiser's update is identical in
all three (theta <- theta - lr * g); only the data that produced g differs.
`fit` trains any model with any `torch.optim`-style optimiser this way, and
returns the loss over the whole training set after every epoch, so the three
feeds can be compared on the same axis (epochs, i.e. examples seen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class FitHistory:
    batch_size: int
    epoch_losses: list[float] = field(default_factory=list)  # full training loss, per epoch
    updates: int = 0  # optimiser steps taken


def full_loss(model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor) -> float:
    with torch.no_grad():
        return float(loss_fn(model(inputs), targets))


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
    *,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
) -> FitHistory:
    """Train for `epochs` passes; batch_size None (or >= N) is full batch.

    Examples are visited in a fresh random order each epoch, drawn from a
    generator seeded by `seed`, so runs are reproducible.
    """
    n_examples = inputs.shape[0]
    batch_size = n_examples if batch_size is None else min(batch_size, n_examples)
    if batch_size < 1:
        raise ValueError(f"Invalid batch_size value: {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    history = FitHistory(batch_size=batch_size)
    history.epoch_losses.append(full_loss(model, loss_fn, inputs, targets))
    for _ in range(epochs):
        order = torch.randperm(n_examples, generator=generator)
        for start in range(0, n_examples, batch_size):
            batch = order[start : start + batch_size]  # [batch_size]
            optimizer.zero_grad()
            # g = gradient of the mean loss over this batch: exact when the
            # batch is the whole set, an unbiased estimate otherwise.
            loss_fn(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
            history.updates += 1
        history.epoch_losses.append(full_loss(model, loss_fn, inputs, targets))
    return history
