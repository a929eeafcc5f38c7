"""Adadelta: Adagrad's per-parameter step without the ever-growing sum.

Instead of summing every squared gradient, Adadelta keeps an exponential
moving average of them (a soft window of about 1 / (1 - rho) steps), so the
denominator can shrink again when gradients do. It also keeps a moving
average of the squared *updates*, and scales each step by the ratio of the
two root-mean-squares, which gives the step the parameter's own units
(Zeiler 2012). `lr` multiplies the result (1.0 is the paper's method).
    E[g^2]_t  = rho * E[g^2]_{t-1} + (1 - rho) * g_t^2
    dx_t      = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t
    E[dx^2]_t = rho * E[dx^2]_{t-1} + (1 - rho) * dx_t^2
    theta    <- theta - lr * dx_t
Same constructor, state (`step`, `square_avg`, `acc_delta`) and numbers as
`torch.optim.Adadelta`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import torch
from torch import Tensor

from mlnotebook.optim._recipe import (
    RecipeOptimizer,
    add_scaled,
    add_scaled_,
    addcmul_scaled_,
    advance_steps,
    check_eps,
    check_lr,
    check_weight_decay,
    new_step,
    to_float,
)


def adadelta_update(
    param: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    acc_delta: Tensor,
    *,
    lr: float,
    rho: float,
    one_minus_rho: float,
    eps: float,
    weight_decay: float,
    sign: float,
) -> None:
    # g <- sign * g + lambda * theta: sign = -1 ascends (maximize); the L2
    # penalty lambda is often 0, and adding 0 * theta is exact.
    grad = add_scaled(sign * grad, weight_decay, param)
    # E[g^2]_t <- rho * E[g^2]_{t-1} + (1 - rho) * g_t^2
    addcmul_scaled_(square_avg.mul_(rho), one_minus_rho, grad, grad)
    # dx_t = RMS[dx]_{t-1} / RMS[g]_t * g_t
    delta = acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(grad)
    # E[dx^2]_t <- rho * E[dx^2]_{t-1} + (1 - rho) * dx_t^2
    addcmul_scaled_(acc_delta.mul_(rho), one_minus_rho, delta, delta)
    # theta <- theta - lr * dx_t
    add_scaled_(param, -lr, delta)


class Adadelta(RecipeOptimizer):
    """Drop-in `torch.optim.Adadelta`."""

    recipe = staticmethod(adadelta_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_eps(eps)
        check_weight_decay(weight_decay)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
        return {"step": new_step(), "square_avg": zeros, "acc_delta": zeros.clone()}

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        return advance_steps(states, values=False)  # the update does not use the step

    def _coefficients(self, group: dict[str, Any], tag: Hashable) -> dict[str, Any]:
        weight_decay = to_float(group["weight_decay"])
        return dict(
            lr=to_float(group["lr"]),
            rho=float(group["rho"]),
            one_minus_rho=1 - float(group["rho"]),
            eps=float(group["eps"]),
            weight_decay=weight_decay,
            sign=-1.0 if group["maximize"] else 1.0,
        )
