"""Layer normalisation: standardise each example over its own features.

Batch norm averages one feature over many examples; layer norm turns this
around and averages over the features of one example (the last few dimensions,
`normalized_shape`), so every example, or every token of a sequence, is
shifted to mean 0 and scaled to variance 1 on its own (Ba, Kiros & Hinton,
2016). Nothing depends on the rest of the batch, so training and evaluation
compute the same thing and there are no running averages to keep. An
elementwise learnable scale (`weight`) and shift (`bias`) follow, one value per
normalised position. This is the normalisation inside the Transformer.

As for batch norm there are two paths: `layer_norm_reference` (the equations on
primitives, autograd does the backward) and `LayerNormFunction` (a hand-derived
backward); the tests check they agree, and `DEFAULT_PATH` was chosen by running
`benchmarks/norm_speed.py`. With nothing to differentiate (inference), the fast
path's forward runs in native code instead (layer_norm.cpp: the same maths one
row at a time, also called by the Transformer's native decoder step), tested
equal to the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from mlnotebook import native
from mlnotebook.nn.batch_norm import check_path

# Chosen by `python benchmarks/norm_speed.py` (forward + backward, float32, one
# thread, on a 2-core machine shared with other jobs, so rough). Fast vs
# reference vs torch, ms: [64, 40, 512] 14 / 37 / 4.8; [256, 1024]
# 2.4 / 5.6 / 1.1. The fast path wins, but torch's fused kernel is 2-3x faster.
DEFAULT_PATH = "fast"


def _scale_and_shift(x_hat: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y = gamma * x_hat + beta; gamma and beta have the normalised shape and broadcast."""
    if weight is not None and bias is not None:  # one fused pass over memory
        return torch.addcmul(bias, x_hat, weight)
    y = x_hat
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def layer_norm_reference(
    x: Tensor,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> Tensor:
    """Normalise `x` over its last len(normalized_shape) dimensions, step by step."""
    dims = tuple(range(-len(normalized_shape), 0))
    # mu = (1/H) sum_k x_k, over the H normalised values of one example
    mean = x.mean(dim=dims, keepdim=True)  # mean: [..., 1, ..., 1]
    # sigma^2 = (1/H) sum_k (x_k - mu)^2   (biased)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    # x_hat_k = (x_k - mu) / sqrt(sigma^2 + eps)
    x_hat = (x - mean) / torch.sqrt(var + eps)  # x_hat: same shape as x
    # y_k = gamma_k x_hat_k + beta_k
    return _scale_and_shift(x_hat, weight, bias)


def _normalise_rows(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Layer norm of x [rows, H]: (y, x_hat [rows, H], 1/sqrt(sigma^2 + eps) [rows, 1])."""
    # Two passes rather than torch.var_mean, which is many times slower on CPU.
    # mu = (1/H) sum_k x_k
    mean = x.mean(dim=1, keepdim=True)  # mean: [rows, 1]
    x_hat = x - mean  # centred now, normalised in place below
    # sigma^2 = (1/H) sum_k (x_k - mu)^2
    var = x_hat.square().mean(dim=1, keepdim=True)  # var: [rows, 1]
    inv_std = torch.rsqrt(var + eps)  # 1 / sqrt(sigma^2 + eps): [rows, 1]
    x_hat.mul_(inv_std)  # x_hat: [rows, H]
    return _scale_and_shift(x_hat, weight, bias), x_hat, inv_std


class LayerNormFunction(torch.autograd.Function):
    """Layer norm on a [rows, H] view of the input, with a hand-derived backward.

    Double backward is not supported.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
    ) -> Tensor:
        # x: [rows, H], weight and bias: [H]
        y, x_hat, inv_std = _normalise_rows(x, weight, bias, eps)
        ctx.save_for_backward(x_hat, inv_std, weight)
        return y

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_y: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x_hat, inv_std, weight = ctx.saved_tensors
        size = grad_y.size(1)
        grad_y_x_hat = grad_y * x_hat  # dL/dy_k x_hat_k: [rows, H]
        # dL/dgamma_k = sum over rows of dL/dy_k x_hat_k
        grad_weight = grad_y_x_hat.sum(dim=0) if ctx.needs_input_grad[1] else None
        # dL/dbeta_k = sum over rows of dL/dy_k
        grad_bias = grad_y.sum(dim=0) if ctx.needs_input_grad[2] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            # With g_k = dL/dx_hat_k = gamma_k dL/dy_k:
            # dL/dx_k = (1 / sqrt(sigma^2 + eps))
            #           * (g_k - (1/H) sum_j g_j - x_hat_k (1/H) sum_j g_j x_hat_j)
            # Both sums over j are products with gamma ([rows, H] @ [H]), which reuse
            # grad_y_x_hat and need no new [rows, H] tensor.
            if weight is None:
                mean_g = grad_y.mean(dim=1)  # [rows]
                mean_g_x_hat = grad_y_x_hat.mean(dim=1)  # [rows]
                grad_x = grad_y.clone()
            else:
                mean_g = (grad_y @ weight).div_(size)  # [rows]
                mean_g_x_hat = (grad_y_x_hat @ weight).div_(size)  # [rows]
                grad_x = grad_y * weight  # g: [rows, H]
            grad_x.sub_(mean_g.unsqueeze(1))
            grad_x.addcmul_(x_hat, mean_g_x_hat.unsqueeze(1), value=-1).mul_(inv_std)
        return grad_x, grad_weight, grad_bias, None


def layer_norm_fast(
    x: Tensor,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> Tensor:
    """Same result as `layer_norm_reference`, through `LayerNormFunction`."""
    size = math.prod(normalized_shape)
    rows = x.reshape(-1, size)  # rows: [prod(leading dims), H]
    # [H] already when one dim is normalised (reshape would cost a call)
    flat_weight = weight if weight is None or weight.dim() == 1 else weight.reshape(size)
    flat_bias = bias if bias is None or bias.dim() == 1 else bias.reshape(size)
    if torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias)
    ):
        y = LayerNormFunction.apply(rows, flat_weight, flat_bias, eps)
    else:
        # Nothing to differentiate (inference, decoding): the same maths without
        # autograd.Function's bookkeeping, which costs as much as the maths for
        # one decoding step's few rows (measured ~45 of ~125 us per call).
        y = _normalise_rows_inference(rows, flat_weight, flat_bias, eps)
    return y.view(x.shape)


def _normalise_rows_inference(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> Tensor:
    """`_normalise_rows`'s y without autograd: in native code (layer_norm.cpp, one
    pass per row instead of seven torch calls) on the CPU in float32/64."""
    if (
        x.device.type == "cpu"
        and x.dtype in native.DTYPES
        and _same_kind(weight, x)
        and _same_kind(bias, x)
        and native.extension_or_none() is not None
    ):
        return torch.ops.mlnotebook.layer_norm_rows.default(x, weight, bias, eps)
    return _normalise_rows(x, weight, bias, eps)[0]


def _same_kind(t: Tensor | None, x: Tensor) -> bool:
    return t is None or (t.dtype == x.dtype and t.device == x.device)


_FUNCTIONS = {"reference": layer_norm_reference, "fast": layer_norm_fast}


class LayerNorm(nn.Module):
    """Layer norm over the trailing `normalized_shape` dims; a drop-in for torch's."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        path: str | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        if not eps > 0:
            raise ValueError(f"Invalid eps: {eps!r}; expected a positive number")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.path = check_path(path, DEFAULT_PATH)
        factory = {"device": device, "dtype": dtype}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **factory))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **factory))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )

    def forward(self, x: Tensor) -> Tensor:
        trailing = tuple(x.shape[x.dim() - len(self.normalized_shape) :])
        if x.dim() < len(self.normalized_shape) or trailing != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: expected input whose last dims are {list(self.normalized_shape)}, "
                f"got shape {list(x.shape)}"
            )
        return _FUNCTIONS[self.path](x, self.normalized_shape, self.weight, self.bias, self.eps)


def _as_shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise ValueError(
            f"Invalid normalized_shape: {normalized_shape!r}; expected a positive int "
            "or a non-empty sequence of positive ints"
        )
    return shape
