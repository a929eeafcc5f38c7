"""Averaged weights: an exponential moving average kept while training, and the
mean of the last K checkpoints written afterwards.

Late in a run the weights wander around a good region rather than sit in it;
an average of recent weights tends to sit nearer its middle, so it often scores
better than any single set it averages (Polyak and Juditsky 1992; checkpoint
averaging in Vaswani et al. 2017, section 6.1; Izmailov et al. 2018's SWA).

* `ExponentialAverage` keeps, after every optimiser step t,

      ema_t = d_t * ema_{t-1} + (1 - d_t) * w_t,   d_t = min(decay, (1 + t) / (10 + t))

  The ramp on d_t (as in TensorFlow's ExponentialMovingAverage) stops the first
  steps, still near the random initial weights, from dominating a short run's
  average. decay = 0 gives ema_t = w_t exactly. The lerp itself is torch's
  `get_ema_multi_avg_fn`. Only parameters are averaged; buffers are the model's.
* `average_state_dicts` is the plain mean of K state dicts,

      avg = (1 / K) * sum_k w_k

  computed as a running mean in float64, avg_k = avg_{k-1} + (w_k - avg_{k-1}) / k,
  so K copies of the same weights average to exactly those weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import get_ema_multi_avg_fn


class ExponentialAverage:
    """The EMA of `model`'s parameters; `update` after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"Invalid EMA decay: {decay} (expected a value in [0, 1])")
        self.decay = decay
        self.names = [name for name, _ in model.named_parameters()]  # tied weights once
        self.shadow = [p.detach().clone() for p in model.parameters()]
        self.updates = 0

    def current_decay(self) -> float:
        """d_t = min(decay, (1 + t) / (10 + t)) for the update about to be made."""
        t = self.updates
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        weights = [p.detach() for p in model.parameters()]
        # ema <- d ema + (1 - d) w, one foreach lerp over every parameter
        get_ema_multi_avg_fn(self.current_decay())(self.shadow, weights, self.updates)
        self.updates += 1

    @contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; its own come back after."""
        params = list(model.parameters())
        with torch.no_grad():
            saved = [p.detach().clone() for p in params]
            for param, average in zip(params, self.shadow, strict=True):
                param.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, own in zip(params, saved, strict=True):
                    param.copy_(own)

    def state_dict(self, model: nn.Module) -> dict[str, Tensor]:
        """A full model state dict holding the averaged weights (loads like the model's own)."""
        with self.swapped_in(model):
            return {name: t.detach().clone() for name, t in model.state_dict().items()}

    def load_state_dict(self, model: nn.Module, state: dict[str, Tensor], updates: int) -> None:
        """Continue from a saved average (`state_dict`'s output) after `updates` updates."""
        missing = [name for name in self.names if name not in state]
        if missing:
            raise KeyError(f"the saved average lacks {missing[0]}")
        with torch.no_grad():
            for shadow, name in zip(self.shadow, self.names, strict=True):
                shadow.copy_(state[name])
        self.updates = updates


def average_state_dicts(states: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of K state dicts with the same keys and shapes.

    Floating tensors are averaged; any other tensor (a step counter, say) is
    taken from the last state.
    """
    if not states:
        raise ValueError("nothing to average")
    keys = list(states[-1])
    for index, state in enumerate(states):
        if list(state) != keys:
            raise ValueError(f"state {index} has other keys than the last one")
    averaged = {}
    for key in keys:
        last = states[-1][key]
        if not last.is_floating_point():
            averaged[key] = last.clone()
            continue
        mean = torch.zeros(last.shape, dtype=torch.float64)
        for k, state in enumerate(states, start=1):
            if state[key].shape != last.shape:
                raise ValueError(
                    f"{key}: shapes differ ({tuple(state[key].shape)} vs {tuple(last.shape)})"
                )
            # avg_k = avg_{k-1} + (w_k - avg_{k-1}) / k
            mean += (state[key].double() - mean) / k
        averaged[key] = mean.to(last.dtype)
    return averaged
