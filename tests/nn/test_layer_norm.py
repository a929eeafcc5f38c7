"""LayerNorm against torch.nn.LayerNorm, and the fast path against the reference."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mlnotebook import native
from mlnotebook.nn.batch_norm import PATHS
from mlnotebook.nn.layer_norm import LayerNorm, layer_norm_fast, layer_norm_reference

# (normalized_shape, input shape): a token sequence, a 2-d normalised block, an unbatched input
CASES = [(8, (4, 5, 8)), ((3, 4), (6, 3, 4)), ((5,), (5,))]
CASE_IDS = ["seq", "2d-block", "unbatched"]
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.fixture(autouse=True)
def _seed_global_rng() -> None:
    """Tests that draw from the global generator stay reproducible too."""
    torch.manual_seed(0)


def _pair(normalized_shape, dtype, path, generator, **kwargs) -> tuple[nn.Module, nn.Module]:
    """Our module and torch's with the same random (non-trivial) weight and bias."""
    ours = LayerNorm(normalized_shape, dtype=dtype, path=path, **kwargs)
    theirs = nn.LayerNorm(normalized_shape, dtype=dtype, **kwargs)
    with torch.no_grad():
        if ours.weight is not None:
            ours.weight.uniform_(0.5, 2.0, generator=generator)
        if ours.bias is not None:
            ours.bias.normal_(generator=generator)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _batch(shape, dtype, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """An input whose rows have different offsets and spreads, and an upstream grad."""
    x = torch.randn(shape, generator=generator, dtype=dtype)
    x = x * (torch.rand((*shape[:-1], 1), generator=generator, dtype=dtype) * 2.5 + 0.5)
    x = x + torch.randn((*shape[:-1], 1), generator=generator, dtype=dtype) * 3
    return x, torch.randn(shape, generator=generator, dtype=dtype)


def _assert_same_step(ours, theirs, x, grad_y, dtype) -> None:
    tol = TOLERANCE[dtype]
    outputs, input_grads = [], []
    for module in (ours, theirs):
        module.zero_grad(set_to_none=True)
        x_leaf = x.clone().requires_grad_(True)
        y = module(x_leaf)
        y.backward(grad_y)
        outputs.append(y.detach())
        input_grads.append(x_leaf.grad)
    torch.testing.assert_close(outputs[0], outputs[1], atol=tol, rtol=tol)
    torch.testing.assert_close(input_grads[0], input_grads[1], atol=tol, rtol=tol)
    for name in ("weight", "bias"):
        if getattr(theirs, name) is not None:
            ours_grad, theirs_grad = getattr(ours, name).grad, getattr(theirs, name).grad
            torch.testing.assert_close(ours_grad, theirs_grad, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("normalized_shape", "shape"), CASES, ids=CASE_IDS)
def test_matches_torch_in_train_and_eval(normalized_shape, shape, path, dtype):
    generator = torch.Generator().manual_seed(0)
    ours, theirs = _pair(normalized_shape, dtype, path, generator)
    for mode in ("train", "eval"):  # layer norm has no mode-dependent behaviour
        getattr(ours, mode)()
        getattr(theirs, mode)()
        x, grad_y = _batch(shape, dtype, generator)
        _assert_same_step(ours, theirs, x, grad_y, dtype)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "kwargs", [{"bias": False}, {"elementwise_affine": False}], ids=["no-bias", "no-affine"]
)
def test_without_affine_parts_matches_torch(kwargs, path):
    generator = torch.Generator().manual_seed(1)
    ours, theirs = _pair(8, torch.float32, path, generator, **kwargs)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x, grad_y = _batch((3, 7, 8), torch.float32, generator)
    _assert_same_step(ours, theirs, x, grad_y, torch.float32)


@pytest.mark.parametrize(("normalized_shape", "shape"), CASES, ids=CASE_IDS)
def test_fast_path_equals_reference_path(normalized_shape, shape):
    generator = torch.Generator().manual_seed(2)
    dtype = torch.float64
    normalized_shape = LayerNorm(normalized_shape).normalized_shape
    x, grad_y = _batch(shape, dtype, generator)
    weight = torch.rand(normalized_shape, generator=generator, dtype=dtype) + 0.5
    bias = torch.randn(normalized_shape, generator=generator, dtype=dtype)
    results = []
    for function in (layer_norm_reference, layer_norm_fast):
        inputs = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
        y = function(inputs[0], normalized_shape, inputs[1], inputs[2], 1e-5)
        y.backward(grad_y)
        results.append([y, *(t.grad for t in inputs)])
    for reference, fast in zip(*results, strict=True):
        torch.testing.assert_close(fast, reference, atol=1e-12, rtol=1e-12)


def test_fast_path_gradcheck():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(3, 4, generator=generator, dtype=torch.float64).add_(0.5)
    bias = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: layer_norm_fast(x, (3, 4), w, b, 1e-5), (x, weight, bias)
    )
    assert torch.autograd.gradcheck(lambda x: layer_norm_fast(x, (3, 4), None, None, 1e-5), (x,))


def test_state_dict_round_trips_with_torch():
    theirs = nn.LayerNorm((3, 4))
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = LayerNorm((3, 4))
    ours.load_state_dict(theirs.state_dict())
    back = nn.LayerNorm((3, 4))
    back.load_state_dict(ours.state_dict())
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x = torch.randn(5, 3, 4)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_repr_matches_torch():
    for args, kwargs in [((5,), {}), (((3, 4),), {"bias": False}), ((2,), {"eps": 1e-3})]:
        assert repr(LayerNorm(*args, **kwargs)) == repr(nn.LayerNorm(*args, **kwargs))


def test_non_contiguous_input_matches_torch():
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(7)).t()  # [6, 8], strided
    ours, theirs = _pair(8, torch.float32, "fast", torch.Generator().manual_seed(6))
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_wrong_trailing_shape_gives_clear_error():
    with pytest.raises(ValueError, match=r"last dims are \[3, 4\], got shape \[2, 4, 3\]"):
        LayerNorm((3, 4))(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"last dims are \[3, 4\], got shape \[4\]"):
        LayerNorm((3, 4))(torch.randn(4))


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="Invalid normalized_shape: 0"):
        LayerNorm(0)
    with pytest.raises(ValueError, match=r"Invalid normalized_shape: \(\)"):
        LayerNorm(())
    with pytest.raises(ValueError, match="Invalid path: 'x'"):
        LayerNorm(3, path="x")


@pytest.mark.parametrize("path", PATHS)
def test_broadcast_upstream_gradient_matches_torch(path):
    """y.sum().backward() hands the backward an expanded (stride-0) gradient."""
    generator = torch.Generator().manual_seed(8)
    ours, theirs = _pair(8, torch.float32, path, generator)
    x, _ = _batch((3, 5, 8), torch.float32, generator)
    grads = []
    for module in (ours, theirs):
        x_leaf = x.clone().requires_grad_(True)
        module(x_leaf).sum().backward()
        grads.append((x_leaf.grad, module.weight.grad, module.bias.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("path", PATHS)
def test_without_autograd_matches_torch_and_records_no_graph(path, dtype, mode):
    # The fast path skips its autograd.Function when nothing needs a gradient.
    generator = torch.Generator().manual_seed(3)
    ours, theirs = _pair(8, dtype, path, generator)
    x, _ = _batch((4, 5, 8), dtype, generator)
    with getattr(torch, mode)():
        y = ours(x)
        expected = theirs(x)
    assert y.grad_fn is None
    torch.testing.assert_close(y, expected, atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])


# --- the native inference kernel (layer_norm.cpp) ------------------------------------------


@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("rows", [3, 1000], ids=["few-rows", "threaded"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_native_rows_equal_the_reference(dtype, rows, affine) -> None:
    native.extension()  # registers torch.ops.mlnotebook
    generator = torch.Generator().manual_seed(7)
    x, _ = _batch((rows, 48), dtype, generator)
    weight = torch.rand(48, generator=generator, dtype=dtype) + 0.5 if affine[0] else None
    bias = torch.randn(48, generator=generator, dtype=dtype) if affine[1] else None
    actual = torch.ops.mlnotebook.layer_norm_rows(x, weight, bias, 1e-5)
    expected = layer_norm_reference(x, (48,), weight, bias, 1e-5)
    torch.testing.assert_close(actual, expected, atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])


def test_the_module_uses_the_native_kernel_without_autograd_only(monkeypatch) -> None:
    import mlnotebook.nn.layer_norm as module

    calls: list[int] = []
    original = module._normalise_rows_inference

    def counted(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(module, "_normalise_rows_inference", counted)
    ours, theirs = _pair(8, torch.float32, "fast", torch.Generator().manual_seed(8))
    x = torch.randn(8, 4).t()  # [4, 8], a transposed (non-contiguous) view
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
    assert calls == [1]
    ours(x.requires_grad_(True)).sum().backward()
    assert calls == [1]


def test_without_the_native_build_inference_uses_torch_ops(monkeypatch) -> None:
    monkeypatch.setattr(native, "extension_or_none", lambda: None)
    ours, theirs = _pair(8, torch.float64, "fast", torch.Generator().manual_seed(9))
    x, _ = _batch((3, 8), torch.float64, torch.Generator().manual_seed(10))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-10, rtol=1e-10)
