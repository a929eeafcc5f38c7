"""Adam: momentum on the gradient, RMSprop on its square, both bias-corrected.

Adam (Kingma & Ba, 2014) keeps two exponential moving averages per
parameter: of the gradient (the first moment, a momentum-like direction)
and of the squared gradient (the second moment, an RMSprop-like scale).
Both start at zero, so early averages are biased towards zero; dividing by
1 - beta^t removes that bias. AMSGrad (Reddi et al., 2018) uses the running
maximum of the second moment so the effective step never grows.
    m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
    v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2
    theta <- theta - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)
Weight decay is added to the gradient (L2) here; AdamW (adamw.py) decouples
it. Same constructor, state (`step`, `exp_avg`, `exp_avg_sq`,
`max_exp_avg_sq`) and numbers as `torch.optim.Adam`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import torch
from torch import Tensor

from mlnotebook.optim._recipe import (
    RecipeOptimizer,
    add_scaled,
    addcdiv_scaled_,
    addcmul_scaled_,
    advance_steps,
    check_eps,
    check_lr,
    check_unit_interval,
    check_weight_decay,
    divide_by,
    lerp_,
    new_step,
    to_float,
)


def adam_update(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Tensor | None = None,
    *,
    one_minus_beta1: float,
    beta2: float,
    one_minus_beta2: float,
    eps: float,
    l2_weight_decay: float,
    decay_factor: float,
    step_size: float,
    bias_correction2_sqrt: float,
    sign: float,
) -> None:
    # AdamW: theta <- theta * (1 - lr * lambda), outside the moments (the
    # decay factor is 1 for Adam's L2 form)
    param.mul_(decay_factor)
    # g <- sign * g + lambda_L2 * theta: sign = -1 ascends (maximize). At most
    # one of the two decays is non-zero, and a zero one is exact.
    grad = add_scaled(sign * grad, l2_weight_decay, param)
    # m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t
    lerp_(exp_avg, grad, one_minus_beta1)
    # v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
    addcmul_scaled_(exp_avg_sq.mul_(beta2), one_minus_beta2, grad, grad)
    second_moment = exp_avg_sq
    if max_exp_avg_sq is not None:
        # AMSGrad: v^max_t <- max(v^max_{t-1}, v_t)
        max_exp_avg_sq.copy_(torch.maximum(max_exp_avg_sq, exp_avg_sq))
        second_moment = max_exp_avg_sq
    # denominator: sqrt(v_t) / sqrt(1 - beta2^t) + eps
    denom = divide_by(second_moment.sqrt(), bias_correction2_sqrt).add_(eps)
    # theta <- theta - lr / (1 - beta1^t) * m_t / denom
    addcdiv_scaled_(param, -step_size, exp_avg, denom)


class Adam(RecipeOptimizer):
    """Drop-in `torch.optim.Adam`."""

    recipe = staticmethod(adam_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_lr(lr)
        check_eps(eps)
        check_unit_interval("beta", to_float(betas[0]), index=0)
        check_unit_interval("beta", to_float(betas[1]), index=1)
        check_weight_decay(weight_decay)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        if group["amsgrad"]:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = {"step": new_step()}
        for name in self._state_names(group):
            state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        return advance_steps(states, values=True)

    def _coefficients(self, group: dict[str, Any], step: float) -> dict[str, Any]:
        lr = to_float(group["lr"])
        beta1, beta2 = (to_float(beta) for beta in group["betas"])
        weight_decay = to_float(group["weight_decay"])
        decoupled = bool(group["decoupled_weight_decay"])
        return dict(
            one_minus_beta1=1 - beta1,
            beta2=beta2,
            one_minus_beta2=1 - beta2,
            eps=float(group["eps"]),
            l2_weight_decay=0.0 if decoupled else weight_decay,
            decay_factor=1 - lr * weight_decay if decoupled else 1.0,
            # bias corrections: 1 - beta1^t and sqrt(1 - beta2^t)
            step_size=lr / (1 - beta1**step),
            bias_correction2_sqrt=math.sqrt(1 - beta2**step),
            sign=-1.0 if group["maximize"] else 1.0,
        )
