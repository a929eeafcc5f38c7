"""Learning-rate schedules for translation training: none, warm-up, budget, or plateau.

* `warmup` is the Transformer's schedule (Vaswani et al. 2017, section 5.3),
  `mlnotebook.optim.schedules.NoamWarmup`: a linear rise for `warmup_steps`,
  then inverse-square-root decay. With `optim.lr: 1.0` it is the paper's rate.
* `budget` is `mlnotebook.optim.BudgetDecay`: a linear rise for `warmup_steps`,
  then decay (linear, cosine or REX) to zero exactly when the run's budget ends,
  whichever budget that is (`train.max_steps`, or `train.max_minutes` on
  `train.budget_clock`). `optim.lr` is then the peak rate. The trainer passes the
  fraction of the budget spent at every step (`budget_fraction`).
* `plateau` multiplies the rate by `plateau_factor` when the validation loss has
  not improved for `plateau_patience` validations (torch's ReduceLROnPlateau);
  it is stepped after each validation.

Every schedule but `plateau` is stepped after every optimiser step.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from mlnotebook.optim.budget_schedule import BudgetDecay
from mlnotebook.optim.schedules import NoamWarmup, noam_factor
from mlnotebook.translate.config import ScheduleConfig, TrainConfig


def noam_multiplier(step: int, d_model: int, warmup_steps: int, factor: float) -> float:
    """The Noam multiplier for the `step`-th scheduler step (0-based, as LambdaLR counts)."""
    return noam_factor(step + 1, d_model, warmup_steps, factor)


def build_scheduler(
    config: ScheduleConfig, optimizer: torch.optim.Optimizer, d_model: int | None
) -> LRScheduler | ReduceLROnPlateau | None:
    if config.kind == "none":
        return None
    if config.kind == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=config.plateau_factor,
            patience=config.plateau_patience,
            min_lr=config.min_lr,
        )
    if config.kind == "budget":
        return BudgetDecay(optimizer, warmup_steps=config.warmup_steps, shape=config.decay)
    width = config.d_model or d_model
    if not width or width <= 0 or math.isnan(width):
        raise ValueError("schedule.kind=warmup needs schedule.d_model or model.d_model")
    return NoamWarmup(
        optimizer, d_model=width, warmup_steps=config.warmup_steps, factor=config.factor
    )


def budget_fraction(train: TrainConfig, step: int, elapsed_seconds: float) -> float:
    """The share of the run's budget spent: the larger of steps and clock time used.

        p = max(step / max_steps, elapsed / (60 * max_minutes))

    (the time term only when `max_minutes` > 0). The run stops when p reaches 1.
    """
    fraction = step / train.max_steps
    if train.max_minutes > 0:
        fraction = max(fraction, elapsed_seconds / (60.0 * train.max_minutes))
    return min(fraction, 1.0)


def steps_per_update(scheduler: object) -> bool:
    """True for schedules stepped after every optimiser step (not at validation)."""
    return scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau)
