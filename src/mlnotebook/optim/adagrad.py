"""Adagrad: a learning rate per parameter, shrinking with its gradient history.

Each parameter accumulates the sum of its squared gradients, and its step is
divided by the square root of that sum. Parameters with large or frequent
gradients slow down; rarely-updated ones (sparse features) keep large steps.
The sum only grows, so every parameter's effective learning rate
lr / (sqrt(G_t) + eps) only shrinks: the method's known weakness, which
Adadelta and RMSprop address.
    G_t = G_{t-1} + g_t^2,     theta <- theta - lr_t * g_t / (sqrt(G_t) + eps),
    lr_t = lr / (1 + (t - 1) * lr_decay).
Same constructor, state (`step`, `sum`) and numbers as `torch.optim.Adagrad`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import torch
from torch import Tensor

from mlnotebook.optim._recipe import (
    RecipeOptimizer,
    add_scaled,
    addcdiv_scaled_,
    advance_steps,
    check_eps,
    check_lr,
    check_weight_decay,
    new_step,
    to_float,
)


def adagrad_update(
    param: Tensor,
    grad: Tensor,
    state_sum: Tensor,
    *,
    clr: float,
    weight_decay: float,
    eps: float,
    sign: float,
) -> None:
    # g <- sign * g + lambda * theta: sign = -1 ascends (maximize); the L2
    # penalty lambda is often 0, and adding 0 * theta is exact.
    grad = add_scaled(sign * grad, weight_decay, param)
    # G_t <- G_{t-1} + g_t^2
    state_sum.addcmul_(grad, grad, value=1)
    # theta <- theta - lr_t * g_t / (sqrt(G_t) + eps)
    addcdiv_scaled_(param, -clr, grad, state_sum.sqrt().add_(eps))


class Adagrad(RecipeOptimizer):
    """Drop-in `torch.optim.Adagrad`."""

    recipe = staticmethod(adagrad_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        check_weight_decay(weight_decay)
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        check_eps(eps)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        # Like torch, Adagrad creates its state up front, not on first use.
        for group in self.param_groups:
            for param in group["params"]:
                self.state[param].update(self._init_state(param, group))

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("sum",)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        init = to_float(group["initial_accumulator_value"])
        return {
            "step": new_step(),
            "sum": torch.full_like(param, init, memory_format=torch.preserve_format),
        }

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        return advance_steps(states, values=True)

    def _coefficients(self, group: dict[str, Any], step: float) -> dict[str, Any]:
        weight_decay = to_float(group["weight_decay"])
        return dict(
            # lr_t = lr / (1 + (t - 1) * lr_decay)
            clr=to_float(group["lr"]) / (1 + (step - 1) * group["lr_decay"]),
            weight_decay=weight_decay,
            eps=float(group["eps"]),
            sign=-1.0 if group["maximize"] else 1.0,
        )
