"""Learning-rate schedules, as `torch.optim.lr_scheduler` classes.

The Transformer's warm-up schedule (Vaswani et al., 2017, section 5.3): the
rate rises linearly for `warmup_steps` steps, then falls with the inverse
square root of the step. Early steps are small because Adam's second-moment
estimate is still noisy and a freshly initialised Transformer's post-norm
residual stack is fragile; later steps shrink like 1/sqrt(t).
    lr(t) = base_lr * factor * d_model^-0.5 * min(t^-0.5, t * warmup^-1.5),
with t counted from 1 at the first optimiser step. With base_lr = 1 and
factor = 1 this is the paper's rate exactly; the peak, at t = warmup, is
factor * (d_model * warmup)^-0.5.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def noam_factor(step: int, d_model: int, warmup_steps: int, factor: float = 1.0) -> float:
    """The multiplier of the base rate at optimiser step `step` (1-based)."""
    t = max(step, 1)
    # factor * d_model^-0.5 * min(t^-0.5, t * warmup^-1.5)
    return factor * d_model**-0.5 * min(t**-0.5, t * warmup_steps**-1.5)


class NoamWarmup(LRScheduler):
    """Linear warm-up then inverse-square-root decay; call `step()` after
    every `optimizer.step()`."""

    def __init__(
        self,
        optimizer: Optimizer,
        d_model: int,
        warmup_steps: int = 4000,
        factor: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        if d_model <= 0:
            raise ValueError(f"Invalid d_model value: {d_model}")
        if warmup_steps <= 0:
            raise ValueError(f"Invalid warmup_steps value: {warmup_steps}")
        if factor <= 0:
            raise ValueError(f"Invalid factor value: {factor}")
        self.d_model = d_model
        self.warmup_steps = warmup_steps
        self.factor = factor
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # last_epoch counts scheduler steps: 0 at construction, so the first
        # optimiser step runs at t = 1.
        multiplier = noam_factor(self.last_epoch + 1, self.d_model, self.warmup_steps, self.factor)
        return [base_lr * multiplier for base_lr in self.base_lrs]
