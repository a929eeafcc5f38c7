"""Learning-rate schedules for a fixed budget: warm up, then decay to zero at the end.

When training is cut by a budget (a number of steps, or minutes on a clock),
the best schedule is one that knows where the end is. Li, Yumer and Ramanan
("Budgeted Training", ICLR 2020) found that decaying the rate to exactly zero
when the budget runs out beats schedules tuned for long runs, most of all at
small budgets, and that a plain linear decay is robust. The schedule here is

    lr(t, p) = base_lr * warm(t) * decay(p)

with t the optimiser step about to be taken (counted from 1) and p in [0, 1]
the fraction of the budget already spent:

    warm(t)  = min(1, t / warmup_steps)       (1 when warmup_steps = 0)
    linear:  decay(p) = 1 - p
    cosine:  decay(p) = (1 + cos(pi p)) / 2
    rex:     decay(p) = (1 - p) / (1/2 + (1 - p) / 2)

REX (Chen, Wolfe and Kyrillidis, 2021, "REX: Revisiting Budgeted Training
with an Improved Schedule") stays high longer than linear and drops steeply
at the end; cosine sits between the two early and below both late.

p comes from whatever budget stops the run. With only a step budget it is
`last_epoch / total_steps`; a trainer that stops on a clock passes its own
fraction to `step(progress=...)` (the larger of steps and time spent), so the
rate reaches zero exactly when the run stops. The fraction is part of
`state_dict`, so a resumed run continues from the budget already spent.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

DECAY_SHAPES = ("linear", "cosine", "rex")


def decay_factor(progress: float, shape: str) -> float:
    """decay(p) for p clamped to [0, 1]: 1 at the start, 0 at the end of the budget."""
    p = min(max(progress, 0.0), 1.0)
    remaining = 1.0 - p
    if shape == "linear":
        return remaining  # 1 - p
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))  # (1 + cos(pi p)) / 2
    if shape == "rex":
        return remaining / (0.5 + 0.5 * remaining)  # (1 - p) / (1/2 + (1 - p)/2)
    raise ValueError(f"Invalid decay shape: {shape!r} (expected one of {', '.join(DECAY_SHAPES)})")


def warmup_factor(step: int, warmup_steps: int) -> float:
    """warm(t) = min(1, t / warmup_steps), with t counted from 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, max(step, 1) / warmup_steps)


class BudgetDecay(LRScheduler):
    """Linear warm-up over `warmup_steps`, then decay to zero at the end of the budget.

    Call `step()` after every `optimizer.step()`; pass `progress=` (the fraction
    of the budget spent so far) when the budget is not, or not only, a step count.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int | None = None,
        warmup_steps: int = 0,
        shape: str = "linear",
        last_epoch: int = -1,
    ) -> None:
        if total_steps is not None and total_steps <= 0:
            raise ValueError(f"Invalid total_steps value: {total_steps}")
        if warmup_steps < 0:
            raise ValueError(f"Invalid warmup_steps value: {warmup_steps}")
        decay_factor(0.0, shape)  # refuses an unknown shape before any state exists
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.shape = shape
        self.given_progress: float | None = None
        super().__init__(optimizer, last_epoch)

    def step(self, progress: float | None = None) -> None:  # type: ignore[override]
        """Advance one optimiser step; `progress` overrides last_epoch / total_steps."""
        self.given_progress = progress
        super().step()

    def set_progress(self, progress: float) -> None:
        """Re-read the budget without taking a step: after resuming with a larger
        (or smaller) budget, the next step's rate follows the new budget."""
        self.given_progress = progress
        rates = self.get_lr()
        for group, rate in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        self._last_lr = rates

    def progress(self) -> float:
        """The fraction p of the budget spent before the step about to be taken."""
        if self.given_progress is not None:
            return self.given_progress
        if self.total_steps is None:
            if self.last_epoch == 0:  # construction: nothing spent yet
                return 0.0
            raise ValueError("BudgetDecay needs total_steps, or step(progress=...) from a trainer")
        return self.last_epoch / self.total_steps

    def multiplier(self) -> float:
        """warm(t) * decay(p): the factor on every group's base rate."""
        # last_epoch counts scheduler steps: 0 at construction, so the first
        # optimiser step runs at t = 1 and p = 0.
        step = self.last_epoch + 1
        return warmup_factor(step, self.warmup_steps) * decay_factor(self.progress(), self.shape)

    def get_lr(self) -> list[float]:
        multiplier = self.multiplier()
        return [base_lr * multiplier for base_lr in self.base_lrs]
