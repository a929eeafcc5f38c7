"""Stochastic gradient descent, with momentum and Nesterov momentum.

Plain gradient descent steps against the gradient: theta <- theta - lr * g.
Fed the gradient of the whole training set this is *full-batch* gradient
descent; fed the gradient of a random mini-batch (or of one example) it is
*stochastic* gradient descent. The update is the same; only the data
differs (see `mlnotebook.optim.fit`).

Momentum keeps a running velocity, so that steps that agree add up and
steps that flip sign (across a narrow ravine) cancel:
    b_t = mu * b_{t-1} + (1 - dampening) * g_t,     theta <- theta - lr * b_t.
Nesterov's variant looks ahead along the velocity before stepping:
    theta <- theta - lr * (g_t + mu * b_t).
Same constructor, state (`momentum_buffer`) and numbers as `torch.optim.SGD`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from torch import Tensor

from mlnotebook.optim._recipe import (
    RecipeOptimizer,
    add_scaled,
    add_scaled_,
    check_lr,
    check_weight_decay,
    to_float,
)


def sgd_update(
    param: Tensor,
    grad: Tensor,
    momentum_buffer: Tensor | None = None,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    buffer_decay: float,
    grad_weight: float,
    nesterov: bool,
    sign: float,
) -> None:
    # g <- sign * g + lambda * theta: sign = -1 ascends (maximize); the L2
    # penalty lambda is often 0, and adding 0 * theta is exact.
    grad = add_scaled(sign * grad, weight_decay, param)
    if momentum_buffer is not None:
        # b_t <- mu * b_{t-1} + (1 - dampening) * g_t; on the first step
        # buffer_decay = 0 and grad_weight = 1, so b_1 = g_1 as in torch.
        add_scaled_(momentum_buffer.mul_(buffer_decay), grad_weight, grad)
        # Nesterov: g + mu * b_t; classical momentum: b_t
        grad = add_scaled(grad, momentum, momentum_buffer) if nesterov else momentum_buffer
    # theta <- theta - lr * g
    add_scaled_(param, -lr, grad)


class SGD(RecipeOptimizer):
    """Drop-in `torch.optim.SGD`."""

    recipe = staticmethod(sgd_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        check_weight_decay(to_float(weight_decay))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        # torch has no step counter for SGD; the buffer appears on the first
        # step. It starts at zero and the "_fresh" mark (removed again within
        # the same step, so no state_dict sees it) makes the first update
        # copy the gradient in.
        if group["momentum"] == 0:
            return {}
        return {"momentum_buffer": param.detach().new_zeros(param.shape), "_fresh": True}

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        # the tag: whether this is the buffer's first step
        return [state.pop("_fresh", False) for state in states]

    def _coefficients(self, group: dict[str, Any], first: bool) -> dict[str, Any]:
        weight_decay = to_float(group["weight_decay"])
        return dict(
            lr=to_float(group["lr"]),
            weight_decay=weight_decay,
            momentum=float(group["momentum"]),
            buffer_decay=0.0 if first else float(group["momentum"]),
            grad_weight=1.0 if first else 1.0 - group["dampening"],
            nesterov=bool(group["nesterov"]),
            sign=-1.0 if group["maximize"] else 1.0,
        )
