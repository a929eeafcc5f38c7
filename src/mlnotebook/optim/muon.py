"""Muon: momentum whose update is orthogonalised before it is applied.

For a weight matrix, the momentum of its gradient is usually dominated by a
few directions: its singular values fall off steeply, so a step along it
mostly moves the weights in those few directions and hardly at all in the
rest. Muon (Keller Jordan et al., 2024) replaces the momentum matrix
M = U S V^T by its nearest orthogonal matrix U V^T, whose singular values
are all 1, so the step moves every direction the gradient has seen by the
same amount. U V^T is not computed by an SVD but approximately, by a few
steps of a Newton-Schulz iteration that needs only matrix products:

    B_t = mu B_{t-1} + (1 - mu) g_t                        (momentum)
    M_t = (1 - mu) g_t + mu B_t   (Nesterov)   or   B_t     (classical)
    O_t = NS_k(M_t) ~ U V^T                                (orthogonalise)
    theta <- theta (1 - lr lambda) - lr' O_t               (decay, step)

with lr' the learning rate scaled for the matrix's shape (`adjust_lr_fn`).

Muon is for the 2-D weight matrices of hidden layers only. Embeddings,
output layers over the vocabulary, biases and norms go to another optimiser
(AdamW, say): see `mlnotebook.translate.muon_with_fallback`.

Same constructor, defaults, param groups, state (`momentum_buffer`) and
numbers as `torch.optim.Muon` (torch 2.13), including its choice to run
Newton-Schulz in bfloat16 whatever the parameters' dtype. Two differences,
both in what is refused rather than what is computed: bad `ns_steps` or
`ns_coefficients` are refused when the optimiser is built (torch waits for
the first step; the message is the same), and `add_param_group` refuses a
non-2-D parameter as the constructor does. And where torch, for bfloat16
parameters without Nesterov, normalises the momentum buffer itself in place
(its bfloat16 "copy" is the buffer), we orthogonalise a copy.

There is no `fused`/`foreach` fast path. The other optimisers here spend
their time in element-wise passes over memory, which fusing saves; Muon's
time goes to the 3 k matrix products of Newton-Schulz per matrix, which are
already single BLAS calls, and the element-wise work around them is small.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import torch
from torch import Tensor

from mlnotebook.optim._recipe import RecipeOptimizer, add_scaled_, lerp_, to_float

# Keller Jordan's quintic coefficients (a, b, c), chosen so that p(s) =
# a s + b s^3 + c s^5 has a large slope at 0 (small singular values grow
# fast) while its iterates stay near 1: after 5 steps the singular values
# land in roughly [0.7, 1.2] rather than exactly on 1, which trains as well.
DEFAULT_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
DEFAULT_NS_STEPS = 5
# The Frobenius norm is clamped from below by this before dividing by it.
EPS = 1e-7
ADJUST_LR_FNS = ("original", "match_rms_adamw")


# -- the recipe's steps ------------------------------------------------------


def check_newton_schulz(coefficients: tuple[float, float, float], steps: int) -> None:
    """torch's limits, with torch's messages."""
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")


def newton_schulz(
    matrix: Tensor,
    coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFICIENTS,
    steps: int = DEFAULT_NS_STEPS,
    eps: float = EPS,
) -> Tensor:
    """An approximately orthogonal matrix with `matrix`'s singular vectors: ~U V^T
    for matrix = U S V^T, in bfloat16.

    Each step applies the odd polynomial p(X) = a X + b X X^T X + c (X X^T)^2 X,
    which keeps the singular vectors and maps every singular value s to
    p(s) = a s + b s^3 + c s^5. Starting from s in [0, 1], the iterates rise
    towards 1 and then hover around it.
    """
    check_newton_schulz(coefficients, steps)
    if matrix.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    a, b, c = coefficients
    # bfloat16, as torch and the reference implementation: the iteration only
    # needs the singular values near 1, not exact, and the products are cheaper.
    # A copy, so that a bfloat16 input (a momentum buffer) is left untouched.
    x = matrix.to(torch.bfloat16, copy=True)
    # For a tall matrix work on X^T: the Gram matrix X X^T is then the small one.
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T
    # X_0 = M / max(||M||_F, eps): ||M||_2 <= ||M||_F, so every s <= 1
    x.div_(x.norm().clamp(min=eps))
    for _ in range(steps):
        # A = X X^T
        gram = x @ x.T
        # P = b A + c A^2
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        # X <- a X + P X = a X + b (X X^T) X + c (X X^T)^2 X
        x = torch.addmm(x, polynomial, x, beta=a)
    return x.T if tall else x


def _update_momentum(momentum_buffer: Tensor, grad: Tensor, momentum: float) -> Tensor:
    # B_t <- mu B_{t-1} + (1 - mu) g_t, an average rather than torch SGD's sum:
    # the scale does not matter, Newton-Schulz divides it out.
    return lerp_(momentum_buffer, grad, 1 - momentum)


def _nesterov_mix(grad: Tensor, momentum_buffer: Tensor, momentum: float) -> Tensor:
    # M_t = (1 - mu) g_t + mu B_t: the gradient looked at one momentum step ahead
    return grad.lerp(momentum_buffer, momentum)


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """The step size for an (A x B) matrix: an orthogonal O has RMS entry
    1/sqrt(max(A, B)), so the same lr moves different shapes differently."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        # Jordan: lr' = lr sqrt(max(1, A / B)), larger for tall matrices
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        # Liu et al. 2025: lr' = 0.2 lr sqrt(max(A, B)) gives the update an RMS
        # of 0.2, about AdamW's, so AdamW's lr and weight decay carry over
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


def _apply_weight_decay(param: Tensor, lr: float, weight_decay: float) -> None:
    # decoupled, as AdamW, with the unadjusted lr: theta <- theta (1 - lr lambda)
    param.mul_(1 - lr * weight_decay)


def muon_update(
    param: Tensor,
    grad: Tensor,
    momentum_buffer: Tensor,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    ns_steps: int,
    eps: float,
    adjust_lr_fn: str | None,
) -> None:
    """One Muon step for one weight matrix, in place."""
    if grad.ndim != 2:
        raise ValueError("Param gradient must be a 2D matrix")
    _update_momentum(momentum_buffer, grad, momentum)
    direction = _nesterov_mix(grad, momentum_buffer, momentum) if nesterov else momentum_buffer
    # O_t = NS_k(M_t) ~ U V^T
    orthogonal = newton_schulz(direction, ns_coefficients, ns_steps, eps)
    _apply_weight_decay(param, lr, weight_decay)
    # theta <- theta - lr' O_t (O_t in bfloat16, added in the parameter's dtype)
    add_scaled_(param, -_adjusted_lr(lr, adjust_lr_fn, param.shape), orthogonal)


# -- the optimiser -----------------------------------------------------------


class Muon(RecipeOptimizer):
    """Drop-in `torch.optim.Muon`: for 2-D parameters (hidden-layer weight matrices)."""

    recipe = staticmethod(muon_update)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFICIENTS,
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        # torch's checks and messages (they differ from the other optimisers')
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        check_newton_schulz(ns_coefficients, ns_steps)
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for param in param_group["params"]:
            if param.ndim != 2:
                self.param_groups.pop()
                raise ValueError(
                    "Muon only supports 2D parameters whereas we found a parameter "
                    f"with size: {param.size()}"
                )

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        if torch.is_complex(param):
            raise RuntimeError("Muon does not support complex parameters")
        # B_0 = 0, shaped as the gradient (torch's choice)
        return {
            "momentum_buffer": torch.zeros_like(param.grad, memory_format=torch.preserve_format)
        }

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        # no step counter: nothing in the update depends on t
        return [None] * len(states)

    def _coefficients(self, group: dict[str, Any], tag: Hashable) -> dict[str, Any]:
        return dict(
            lr=to_float(group["lr"]),
            weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]),
            nesterov=bool(group["nesterov"]),
            ns_coefficients=tuple(group["ns_coefficients"]),
            ns_steps=int(group["ns_steps"]),
            eps=float(group["eps"]),
            adjust_lr_fn=group["adjust_lr_fn"],
        )
