"""RMSprop: divide each step by a running root-mean-square of the gradient.

Hinton's fix for Adagrad's shrinking steps (Coursera lecture 6e, 2012,
unpublished): keep an exponential moving average of squared gradients
instead of their sum, so the effective learning rate lr / sqrt(v_t) can rise
again when gradients get smaller. The centred variant subtracts the squared
mean gradient, normalising by an estimate of the variance; momentum, when
set, smooths the normalised step.
    v_t = alpha * v_{t-1} + (1 - alpha) * g_t^2
    centred: m_t = alpha * m_{t-1} + (1 - alpha) * g_t,  v~_t = v_t - m_t^2
    step_t = g_t / (sqrt(v~_t) + eps)
    momentum: b_t = mu * b_{t-1} + step_t,  theta <- theta - lr * b_t
    otherwise:                              theta <- theta - lr * step_t
Same constructor, state (`step`, `square_avg`, `momentum_buffer`,
`grad_avg`) and numbers as `torch.optim.RMSprop`.
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
    addcdiv_scaled_,
    addcmul_scaled_,
    advance_steps,
    check_eps,
    check_lr,
    check_weight_decay,
    lerp_,
    new_step,
    to_float,
)


def rmsprop_update(
    param: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    *extra: Tensor,
    lr: float,
    alpha: float,
    one_minus_alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    use_momentum: bool,
    centered: bool,
    sign: float,
) -> None:
    # extra holds (momentum_buffer)?, (grad_avg)? in that order.
    momentum_buffer = extra[0] if use_momentum else None
    grad_avg = extra[-1] if centered else None
    # g <- sign * g + lambda * theta: sign = -1 ascends (maximize); the L2
    # penalty lambda is often 0, and adding 0 * theta is exact.
    grad = add_scaled(sign * grad, weight_decay, param)
    # v_t <- alpha * v_{t-1} + (1 - alpha) * g_t^2
    addcmul_scaled_(square_avg.mul_(alpha), one_minus_alpha, grad, grad)
    if grad_avg is not None:
        # m_t <- alpha * m_{t-1} + (1 - alpha) * g_t;  sqrt(v_t - m_t^2)
        lerp_(grad_avg, grad, one_minus_alpha)
        rms = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
    else:
        rms = square_avg.sqrt().add_(eps)
    if momentum_buffer is not None:
        # b_t <- mu * b_{t-1} + g_t / rms;  theta <- theta - lr * b_t
        addcdiv_scaled_(momentum_buffer.mul_(momentum), 1.0, grad, rms)
        add_scaled_(param, -lr, momentum_buffer)
    else:
        # theta <- theta - lr * g_t / rms
        addcdiv_scaled_(param, -lr, grad, rms)


class RMSprop(RecipeOptimizer):
    """Drop-in `torch.optim.RMSprop`."""

    recipe = staticmethod(rmsprop_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        check_eps(eps)
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        check_weight_decay(weight_decay)
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        names = ["square_avg"]
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        if group["centered"]:
            names.append("grad_avg")
        return tuple(names)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = {"step": new_step()}
        for name in self._state_names(group):
            state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        return advance_steps(states, values=False)  # the update does not use the step

    def _coefficients(self, group: dict[str, Any], tag: Hashable) -> dict[str, Any]:
        weight_decay = to_float(group["weight_decay"])
        return dict(
            lr=to_float(group["lr"]),
            alpha=float(group["alpha"]),
            one_minus_alpha=1 - float(group["alpha"]),
            eps=float(group["eps"]),
            weight_decay=weight_decay,
            momentum=float(group["momentum"]),
            use_momentum=group["momentum"] > 0,
            centered=bool(group["centered"]),
            sign=-1.0 if group["maximize"] else 1.0,
        )
