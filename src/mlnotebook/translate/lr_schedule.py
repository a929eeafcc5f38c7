"""Learning-rate schedules for translation training: none, warm-up, or cut on plateau.

* `warmup` is the Transformer's schedule (Vaswani et al. 2017, section 5.3): the
  rate rises linearly for `warmup_steps` steps, then decays with the inverse
  square root of the step,

      lr(s) = base_lr * factor * d_model^-0.5 * min(s^-0.5, s * warmup^-1.5)

  With `optim.lr: 1.0` this is exactly the paper's rate. It is stepped after
  every optimiser step. When the lead's `mlnotebook.optim.schedules.NoamWarmup`
  exists it is used; otherwise the same formula runs as a `LambdaLR`.
* `plateau` multiplies the rate by `plateau_factor` when the validation loss has
  not improved for `plateau_patience` validations (torch's ReduceLROnPlateau);
  it is stepped after each validation.
"""

from __future__ import annotations

import importlib
import math

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from mlnotebook.translate.config import ScheduleConfig


def noam_multiplier(step: int, d_model: int, warmup_steps: int, factor: float) -> float:
    """factor * d_model^-0.5 * min(s^-0.5, s * warmup^-1.5), with s counted from 1."""
    s = step + 1
    return factor * d_model**-0.5 * min(s**-0.5, s * warmup_steps**-1.5)


class _NoamLambda:
    """The Noam multiplier as an object: LambdaLR's state_dict then records its
    three numbers (it skips plain functions), and they load with weights_only."""

    def __init__(self, d_model: int, warmup_steps: int, factor: float) -> None:
        self.d_model, self.warmup_steps, self.factor = d_model, warmup_steps, factor

    def __call__(self, step: int) -> float:
        return noam_multiplier(step, self.d_model, self.warmup_steps, self.factor)


def _lead_noam() -> type | None:
    try:
        module = importlib.import_module("mlnotebook.optim.schedules")
    except ImportError:
        return None
    return getattr(module, "NoamWarmup", None)


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
    width = config.d_model or d_model
    if not width or width <= 0 or math.isnan(width):
        raise ValueError("schedule.kind=warmup needs schedule.d_model or model.d_model")
    lead = _lead_noam()
    if lead is not None:
        return lead(
            optimizer, d_model=width, warmup_steps=config.warmup_steps, factor=config.factor
        )
    return LambdaLR(optimizer, _NoamLambda(width, config.warmup_steps, config.factor))


def steps_per_update(scheduler: object) -> bool:
    """True for schedules stepped after every optimiser step (not at validation)."""
    return scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau)
