"""AdamW: Adam with weight decay decoupled from the gradient.

In Adam, an L2 penalty added to the gradient is divided by sqrt(v_t) like
everything else, so parameters with large gradients are barely decayed.
Loshchilov & Hutter (2019) apply the decay to the weights directly,
    theta <- theta * (1 - lr * lambda),
then take the ordinary Adam step. Same constructor, state and numbers as
`torch.optim.AdamW` (which, like this class, is Adam with
`decoupled_weight_decay=True`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from mlnotebook.optim.adam import Adam


class AdamW(Adam):
    """Drop-in `torch.optim.AdamW`."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
