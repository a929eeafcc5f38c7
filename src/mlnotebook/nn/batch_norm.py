"""Batch normalisation: standardise each channel with the statistics of the batch.

During training, every channel of a layer's input is shifted and scaled so that,
over the current mini-batch (and, for images or sequences, over every spatial
position too), it has mean 0 and variance 1. A learnable per-channel scale
gamma (`weight`) and shift beta (`bias`) then give the layer back the freedom to
choose any mean and spread it likes (Ioffe & Szegedy, 2015).

The batch statistics are not available at test time, when one example may
arrive alone, so the layer keeps exponential moving averages of them
(`running_mean`, `running_var`) and uses those in eval mode. Like PyTorch, and
unlike several tutorials, the running variance averages the *unbiased* batch
variance (divided by m - 1), while the training-time normalisation divides by m.

Two paths compute the training forward pass:

- `batch_norm_reference` writes the equations out on tensor primitives and lets
  autograd differentiate them. Read this one first.
- `BatchNormFunction` is a `torch.autograd.Function` whose backward is derived by
  hand (the formula sits beside it). It saves the normalised input instead of
  the half-dozen intermediates autograd would keep, and needs fewer passes over
  memory. The tests check that it agrees with the reference path.

`DEFAULT_PATH` picks the one modules use unless told otherwise; it was chosen by
running `benchmarks/norm_speed.py` (numbers next to the constant).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

PATHS = ("reference", "fast")

# Chosen by `python benchmarks/norm_speed.py` (forward + backward, float32, one
# thread, on a 2-core machine shared with other jobs, so rough). Fast vs
# reference vs torch, ms: [256, 512] 1.3 / 3.7 / 0.69; [64, 128, 100]
# 7.6 / 35 / 8.0; [32, 64, 32, 32] 23 / 87 / 20. The fast path wins everywhere
# and is level with torch's kernel except on small [N, C] inputs.
DEFAULT_PATH = "fast"


def check_path(path: str | None, default: str = DEFAULT_PATH) -> str:
    """Return `path`, or `default` when None; reject names that are not a path."""
    if path is None:
        return default
    if path not in PATHS:
        raise ValueError(f"Invalid path: {path!r}; expected one of {', '.join(PATHS)}")
    return path


def _reduce_dims(x: Tensor) -> tuple[int, ...]:
    """Every dimension except the channel one: the batch and any spatial positions."""
    return (0, *range(2, x.dim()))


def _per_channel(values: Tensor, ndim: int) -> Tensor:
    """Reshape a per-channel vector so it broadcasts against an input of rank `ndim`."""
    # values: [C] -> [1, C, 1, ..., 1]
    return values.view(1, -1, *([1] * (ndim - 2)))


def _scale_and_shift(x_hat: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y = gamma * x_hat + beta, with gamma = 1 and beta = 0 when absent."""
    if weight is not None and bias is not None:  # one fused pass over memory
        ndim = x_hat.dim()
        return torch.addcmul(_per_channel(bias, ndim), x_hat, _per_channel(weight, ndim))
    y = x_hat
    if weight is not None:
        y = y * _per_channel(weight, x_hat.dim())
    if bias is not None:
        y = y + _per_channel(bias, x_hat.dim())
    return y


def batch_norm_reference(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalise `x` with its own batch statistics, written out step by step.

    Returns the output and the per-channel batch mean and biased variance
    (detached, for the running averages).
    """
    dims = _reduce_dims(x)
    # mu_B = (1/m) sum_i x_i, over the m values of each channel
    mean = x.mean(dim=dims, keepdim=True)  # mean: [1, C, 1, ...]
    # sigma_B^2 = (1/m) sum_i (x_i - mu_B)^2   (biased: divided by m, not m - 1)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # var: [1, C, 1, ...]
    # x_hat_i = (x_i - mu_B) / sqrt(sigma_B^2 + eps)
    x_hat = (x - mean) / torch.sqrt(var + eps)  # x_hat: same shape as x
    # y_i = gamma x_hat_i + beta
    y = _scale_and_shift(x_hat, weight, bias)
    return y, mean.detach().flatten(), var.detach().flatten()


class BatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm with a hand-derived backward pass.

    Outputs (y, batch mean, biased batch variance); the two statistics are not
    differentiable. Double backward is not supported.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        dims = _reduce_dims(x)
        # Two passes rather than torch.var_mean, which is many times slower on CPU.
        # mu_B = (1/m) sum_i x_i
        mean = x.mean(dim=dims, keepdim=True)  # mean: [1, C, 1, ...]
        x_hat = x - mean  # centred now, normalised in place below
        # sigma_B^2 = (1/m) sum_i (x_i - mu_B)^2
        var = x_hat.square().mean(dim=dims, keepdim=True)
        # 1 / sqrt(sigma_B^2 + eps)
        inv_std = torch.rsqrt(var + eps)  # inv_std: [1, C, 1, ...]
        x_hat.mul_(inv_std)  # x_hat: same shape as x
        y = _scale_and_shift(x_hat, weight, bias)
        ctx.save_for_backward(x_hat, inv_std, weight)
        mean, var = mean.flatten(), var.flatten()
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_y: Tensor, _grad_mean: Tensor, _grad_var: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x_hat, inv_std, weight = ctx.saved_tensors
        dims = _reduce_dims(grad_y)
        count = grad_y.numel() // grad_y.size(1)
        # dL/dbeta = sum_i dL/dy_i
        grad_bias = grad_y.sum(dim=dims)  # [C]
        # dL/dgamma = sum_i dL/dy_i x_hat_i
        grad_weight = (grad_y * x_hat).sum(dim=dims)  # [C]
        grad_x = None
        if ctx.needs_input_grad[0]:
            # Differentiating through mu_B and sigma_B^2 (both depend on every x_j):
            # dL/dx_i = gamma / sqrt(sigma_B^2 + eps)
            #           * (dL/dy_i - (1/m) sum_j dL/dy_j - x_hat_i (1/m) sum_j dL/dy_j x_hat_j)
            mean_grad = _per_channel(grad_bias / count, grad_y.dim())
            mean_grad_x_hat = _per_channel(grad_weight / count, grad_y.dim())
            scale = inv_std if weight is None else inv_std * _per_channel(weight, grad_y.dim())
            grad_x = (grad_y - mean_grad).addcmul_(x_hat, mean_grad_x_hat, value=-1).mul_(scale)
        return (
            grad_x,
            grad_weight if ctx.needs_input_grad[1] else None,
            grad_bias if ctx.needs_input_grad[2] else None,
            None,
        )


def batch_norm_fast(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Same contract as `batch_norm_reference`, through `BatchNormFunction`."""
    return BatchNormFunction.apply(x, weight, bias, eps)


def batch_norm_with_running_stats(
    x: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> Tensor:
    """Eval mode: a fixed per-channel affine map, differentiated by autograd."""
    ndim = x.dim()
    # y = gamma (x - mu_running) / sqrt(sigma^2_running + eps) + beta
    x_hat = (x - _per_channel(running_mean, ndim)) / torch.sqrt(
        _per_channel(running_var, ndim) + eps
    )
    return _scale_and_shift(x_hat, weight, bias)


@torch.no_grad()
def update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    batch_mean: Tensor,
    batch_var: Tensor,
    count: int,
    factor: float,
) -> None:
    """Fold one batch's statistics into the running averages, in place."""
    # unbiased variance: s^2 = m / (m - 1) sigma_B^2
    unbiased_var = batch_var * (count / (count - 1))
    # r <- (1 - momentum) r + momentum * statistic
    running_mean.mul_(1 - factor).add_(batch_mean, alpha=factor)
    running_var.mul_(1 - factor).add_(unbiased_var, alpha=factor)


_TRAIN_FUNCTIONS = {"reference": batch_norm_reference, "fast": batch_norm_fast}


class _BatchNorm(nn.Module):
    """Shared body of BatchNorm1d/2d; subclasses say which input ranks they accept."""

    accepted_ranks: tuple[int, ...] = ()
    shape_hint: str = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
        path: str | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(num_features, eps, momentum)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.path = check_path(path)
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        uses_batch_stats = self.training or self.running_mean is None
        if not uses_batch_stats:
            return batch_norm_with_running_stats(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.eps
            )
        count = x.numel() // x.size(1)
        if count < 2:
            raise ValueError(
                f"{type(self).__name__}: expected more than 1 value per channel when "
                f"normalising with batch statistics, got input of shape {list(x.shape)}"
            )
        y, batch_mean, batch_var = _TRAIN_FUNCTIONS[self.path](x, self.weight, self.bias, self.eps)
        if self.training and self.running_mean is not None:
            factor = self._advance_momentum_factor()
            update_running_stats(
                self.running_mean, self.running_var, batch_mean, batch_var, count, factor
            )
        return y

    def _advance_momentum_factor(self) -> float:
        """Count this batch; return the weight the new statistics get in the average."""
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            # cumulative moving average: the t-th batch gets weight 1/t
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in self.accepted_ranks:
            raise ValueError(
                f"{name}: expected input of shape {self.shape_hint}, "
                f"got {x.dim()}-d input of shape {list(x.shape)}"
            )
        if x.size(1) != self.num_features:
            raise ValueError(
                f"{name}: expected {self.num_features} channels in dim 1 of input, "
                f"got shape {list(x.shape)}"
            )


def _check_arguments(num_features: int, eps: float, momentum: float | None) -> None:
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ValueError(f"Invalid num_features: {num_features!r}; expected a positive int")
    if not eps > 0:
        raise ValueError(f"Invalid eps: {eps!r}; expected a positive number")
    if momentum is not None and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"Invalid momentum: {momentum!r}; expected a number in [0, 1] or None")


class BatchNorm1d(_BatchNorm):
    """Batch norm over [N, C] or [N, C, L] inputs; a drop-in for `torch.nn.BatchNorm1d`."""

    accepted_ranks = (2, 3)
    shape_hint = "[N, C] or [N, C, L]"


class BatchNorm2d(_BatchNorm):
    """Batch norm over [N, C, H, W] inputs; a drop-in for `torch.nn.BatchNorm2d`."""

    accepted_ranks = (4,)
    shape_hint = "[N, C, H, W]"
