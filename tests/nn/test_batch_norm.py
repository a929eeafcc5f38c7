"""BatchNorm1d/2d against torch.nn.BatchNorm1d/2d, and the fast path against the reference."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mlnotebook.nn.batch_norm import (
    PATHS,
    BatchNorm1d,
    BatchNorm2d,
    batch_norm_fast,
    batch_norm_reference,
)

# (ours, torch's, input shape): [N, C], [N, C, L] and [N, C, H, W]
CASES = [
    (BatchNorm1d, nn.BatchNorm1d, (16, 6)),
    (BatchNorm1d, nn.BatchNorm1d, (8, 6, 5)),
    (BatchNorm2d, nn.BatchNorm2d, (4, 6, 5, 3)),
]
CASE_IDS = ["1d-NC", "1d-NCL", "2d-NCHW"]
# float32 to 1e-5 as asked; float64 far tighter, so a formula slip cannot hide in rounding
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.fixture(autouse=True)
def _seed_global_rng() -> None:
    """Tests that draw from the global generator stay reproducible too."""
    torch.manual_seed(0)


def _pair(ours_cls, torch_cls, dtype, path, generator, **kwargs) -> tuple[nn.Module, nn.Module]:
    """Our module and torch's with the same random (non-trivial) weight and bias."""
    ours = ours_cls(6, dtype=dtype, path=path, **kwargs)
    theirs = torch_cls(6, dtype=dtype, **kwargs)
    with torch.no_grad():
        if ours.weight is not None:
            ours.weight.uniform_(0.5, 2.0, generator=generator)
        if ours.bias is not None:
            ours.bias.normal_(generator=generator)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _batch(shape, dtype, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """An input with per-channel offsets and scales far from (0, 1), and an upstream grad."""
    channel_shape = (1, shape[1]) + (1,) * (len(shape) - 2)
    offset = torch.randn(channel_shape, generator=generator, dtype=dtype) * 3
    scale = torch.rand(channel_shape, generator=generator, dtype=dtype) * 2.5 + 0.5
    x = torch.randn(shape, generator=generator, dtype=dtype) * scale + offset
    grad_y = torch.randn(shape, generator=generator, dtype=dtype)
    return x, grad_y


def _step(module: nn.Module, x: Tensor, grad_y: Tensor) -> tuple[Tensor, Tensor]:
    """Forward and backward; returns the output and the input's gradient."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(grad_y)
    return y.detach(), x.grad


def _assert_close(actual: Tensor, expected: Tensor, dtype: torch.dtype) -> None:
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)


def _assert_same_step(ours, theirs, x, grad_y, dtype) -> None:
    for module in (ours, theirs):
        module.zero_grad(set_to_none=True)
    y_ours, grad_x_ours = _step(ours, x, grad_y)
    y_theirs, grad_x_theirs = _step(theirs, x, grad_y)
    _assert_close(y_ours, y_theirs, dtype)
    _assert_close(grad_x_ours, grad_x_theirs, dtype)
    for name in ("weight", "bias"):
        if getattr(theirs, name) is not None:
            _assert_close(getattr(ours, name).grad, getattr(theirs, name).grad, dtype)


def _assert_same_buffers(ours, theirs, dtype) -> None:
    _assert_close(ours.running_mean, theirs.running_mean, dtype)
    _assert_close(ours.running_var, theirs.running_var, dtype)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item()


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), CASES, ids=CASE_IDS)
def test_train_then_eval_matches_torch(ours_cls, torch_cls, shape, path, dtype, momentum):
    generator = torch.Generator().manual_seed(0)
    ours, theirs = _pair(ours_cls, torch_cls, dtype, path, generator, momentum=momentum)
    for _ in range(4):
        x, grad_y = _batch(shape, dtype, generator)
        _assert_same_step(ours, theirs, x, grad_y, dtype)
    _assert_same_buffers(ours, theirs, dtype)
    assert ours.num_batches_tracked.item() == 4
    # the running variance must have moved away from its initial 1 for this to mean anything
    assert (ours.running_var - 1).abs().min() > 0.05
    ours.eval()
    theirs.eval()
    x, grad_y = _batch(shape, dtype, generator)
    _assert_same_step(ours, theirs, x, grad_y, dtype)
    _assert_same_buffers(ours, theirs, dtype)  # eval must not touch the buffers
    assert ours.num_batches_tracked.item() == 4


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), CASES, ids=CASE_IDS)
def test_no_affine_no_running_stats_matches_torch(ours_cls, torch_cls, shape, path):
    generator = torch.Generator().manual_seed(1)
    dtype = torch.float32
    ours, theirs = _pair(
        ours_cls, torch_cls, dtype, path, generator, affine=False, track_running_stats=False
    )
    assert ours.weight is None and ours.running_mean is None
    assert ours.state_dict().keys() == theirs.state_dict().keys() == set()
    for mode in ("train", "eval"):  # without running stats, eval also uses batch stats
        getattr(ours, mode)()
        getattr(theirs, mode)()
        x, grad_y = _batch(shape, dtype, generator)
        _assert_same_step(ours, theirs, x, grad_y, dtype)


@pytest.mark.parametrize("path", PATHS)
def test_weight_without_bias_matches_torch(path):
    generator = torch.Generator().manual_seed(5)
    ours, theirs = _pair(BatchNorm1d, nn.BatchNorm1d, torch.float32, path, generator, bias=False)
    assert ours.bias is None and ours.weight is not None
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for _ in range(2):
        x, grad_y = _batch((8, 6, 5), torch.float32, generator)
        _assert_same_step(ours, theirs, x, grad_y, torch.float32)
    _assert_same_buffers(ours, theirs, torch.float32)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), CASES, ids=CASE_IDS)
def test_fast_path_equals_reference_path(ours_cls, torch_cls, shape):
    generator = torch.Generator().manual_seed(2)
    dtype = torch.float64
    x, grad_y = _batch(shape, dtype, generator)
    weight = torch.rand(shape[1], generator=generator, dtype=dtype) + 0.5
    bias = torch.randn(shape[1], generator=generator, dtype=dtype)
    results = []
    for function in (batch_norm_reference, batch_norm_fast):
        inputs = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
        y, mean, var = function(*inputs, 1e-5)
        y.backward(grad_y)
        results.append([y, mean, var, *(t.grad for t in inputs)])
    for reference, fast in zip(*results, strict=True):
        torch.testing.assert_close(fast, reference, atol=1e-12, rtol=1e-12)


def test_fast_path_gradcheck():
    """The hand-derived backward against finite differences, including without affine."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(5, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(3, generator=generator, dtype=torch.float64).add_(0.5).requires_grad_()
    bias = torch.randn(3, generator=generator, dtype=torch.float64, requires_grad=True)

    def output_only(*args):
        return batch_norm_fast(*args, 1e-5)[0]

    assert torch.autograd.gradcheck(output_only, (x, weight, bias))
    assert torch.autograd.gradcheck(output_only, (x, None, None))


@pytest.mark.parametrize("path", PATHS)
def test_state_dict_round_trips_with_torch(path):
    generator = torch.Generator().manual_seed(4)
    ours, theirs = _pair(BatchNorm2d, nn.BatchNorm2d, torch.float32, path, generator)
    for _ in range(3):
        x, _ = _batch((4, 6, 3, 3), torch.float32, generator)
        theirs(x)  # only torch's module trains: its buffers must land in ours
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    fresh_torch = nn.BatchNorm2d(6)
    fresh_torch.load_state_dict(ours.state_dict())  # strict: same names, shapes, dtypes
    assert fresh_torch.num_batches_tracked.item() == 3
    ours.eval()
    fresh_torch.eval()
    x, _ = _batch((4, 6, 3, 3), torch.float32, generator)
    torch.testing.assert_close(ours(x), fresh_torch(x), atol=1e-5, rtol=1e-5)


def test_repr_and_defaults_match_torch():
    for kwargs in ({}, {"affine": False}, {"bias": False, "momentum": None}):
        ours, theirs = repr(BatchNorm1d(3, **kwargs)), repr(nn.BatchNorm1d(3, **kwargs))
        assert ours.split("(", 1)[1] == theirs.split("(", 1)[1]
    ours, theirs = BatchNorm1d(3), nn.BatchNorm1d(3)
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)
        assert ours.state_dict()[key].dtype == value.dtype


@pytest.mark.parametrize(
    ("module", "shape", "message"),
    [
        (BatchNorm1d(4), (2, 4, 3, 3), r"BatchNorm1d: expected input of shape \[N, C\]"),
        (BatchNorm2d(4), (2, 4, 3), r"BatchNorm2d: expected input of shape \[N, C, H, W\]"),
        (BatchNorm1d(4), (2, 5), r"expected 4 channels in dim 1 of input, got shape \[2, 5\]"),
        (BatchNorm2d(4), (1, 4, 1, 1), "more than 1 value per channel"),
    ],
)
def test_bad_input_gives_clear_error(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(torch.randn(shape))


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match=r"Invalid momentum: 1\.5"):
        BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match="Invalid num_features: 0"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="Invalid path: 'fused'"):
        BatchNorm2d(3, path="fused")


def test_eval_with_a_single_example_uses_running_stats():
    module = BatchNorm1d(3).eval()
    x = torch.randn(1, 3)
    # fresh running stats are mean 0, variance 1: y = x / sqrt(1 + eps)
    torch.testing.assert_close(module(x), x / (1 + 1e-5) ** 0.5)


def test_double_backward_is_refused_not_wrong():
    module = BatchNorm1d(3, path="fast")
    x = torch.randn(4, 3, requires_grad=True)
    (grad_x,) = torch.autograd.grad(module(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"once_differentiable|double backward|not support"):
        grad_x.sum().backward()


@pytest.mark.parametrize("path", PATHS)
def test_broadcast_upstream_gradient_matches_torch(path):
    """y.sum().backward() hands the backward an expanded (stride-0) gradient."""
    generator = torch.Generator().manual_seed(8)
    ours, theirs = _pair(BatchNorm2d, nn.BatchNorm2d, torch.float32, path, generator)
    x, _ = _batch((4, 6, 3, 3), torch.float32, generator)
    grads = []
    for module in (ours, theirs):
        x_leaf = x.clone().requires_grad_(True)
        module(x_leaf).sum().backward()
        grads.append((x_leaf.grad, module.weight.grad, module.bias.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
