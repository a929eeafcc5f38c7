"""`linear` on pre-packed weights against F.linear, and when packing must not happen."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.nn import packed_linear
from mlnotebook.nn.packed_linear import linear, packed_weights

# float32 products of 64-1024 terms summed in another order
ATOL, RTOL = 1e-5, 1e-5


def test_this_build_can_pack() -> None:
    """The pinned CPU torch has oneDNN; without it every test below would pass unpacked."""
    assert packed_linear.available()


def _copies() -> int:
    """How many packed weights the open block holds."""
    packed = packed_linear._PACKED.get()
    assert packed is not None, "no packed_weights() block is open"
    return len(packed)


def _weights(out: int, inp: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out, inp, generator=generator) / inp**0.5
    return weight, torch.randn(out, generator=generator)


@pytest.mark.parametrize("rows", [(1, 256), (32, 256), (5, 1, 256), (3, 7, 256)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_packed_equals_f_linear(rows: tuple[int, ...], with_bias: bool) -> None:
    weight, bias = _weights(96, 256)
    bias = bias if with_bias else None
    x = torch.randn(*rows)
    with torch.no_grad(), packed_weights():
        ours = linear(x, weight, bias)
        again = linear(x, weight, bias)  # from the same packed copy
        assert _copies() == 1
    expected = F.linear(x, weight, bias)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, atol=ATOL, rtol=RTOL)
    assert torch.equal(ours, again)


def test_views_of_one_weight_are_packed_apart() -> None:
    """The attention's Q rows and K/V rows are two views of one [3d, d] matrix."""
    weight, bias = _weights(3 * 64, 64)
    x = torch.randn(4, 64)
    with torch.no_grad(), packed_weights():
        query = linear(x, weight[:64], bias[:64])
        key_value = linear(x, weight[64:], bias[64:])
        assert _copies() == 2
    torch.testing.assert_close(query, F.linear(x, weight[:64], bias[:64]), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(key_value, F.linear(x, weight[64:], bias[64:]), atol=ATOL, rtol=RTOL)


def test_outside_a_block_it_is_f_linear_exactly() -> None:
    weight, bias = _weights(32, 64)
    x = torch.randn(8, 64)
    with torch.no_grad():
        assert torch.equal(linear(x, weight, bias), F.linear(x, weight, bias))
    assert packed_linear._PACKED.get() is None


def test_with_autograd_on_nothing_is_packed_and_gradients_flow() -> None:
    weight, bias = _weights(32, 64)
    weight.requires_grad_(True)
    x = torch.randn(8, 64)
    with packed_weights():
        y = linear(x, weight, bias)
        assert _copies() == 0
    y.sum().backward()
    assert weight.grad is not None
    assert torch.equal(weight.grad, x.sum(0).expand(32, 64))  # d sum(x W^T) / dW = 1 x^T


def test_float64_is_not_packed() -> None:
    weight, bias = _weights(32, 64)
    weight, bias = weight.double(), bias.double()
    x = torch.randn(8, 64, dtype=torch.float64)
    with torch.no_grad(), packed_weights():
        y = linear(x, weight, bias)
        assert _copies() == 0
    assert torch.equal(y, F.linear(x, weight, bias))


def test_nested_blocks_share_the_copies_and_the_outer_end_drops_them() -> None:
    weight, _ = _weights(32, 64)
    x = torch.randn(2, 64)
    with torch.no_grad(), packed_weights():
        linear(x, weight)
        with packed_weights():
            assert _copies() == 1
            linear(x, weight)
            assert _copies() == 1
        assert _copies() == 1
    assert packed_linear._PACKED.get() is None


def test_a_weight_written_in_place_is_packed_again() -> None:
    """The key holds the weight's version: a torch in-place write never meets a stale copy."""
    weight, _ = _weights(32, 64)
    x = torch.randn(2, 64)
    with torch.no_grad(), packed_weights():
        before = linear(x, weight)
        weight.mul_(2.0)
        after = linear(x, weight)
        assert _copies() == 2
    torch.testing.assert_close(after, 2.0 * before, atol=ATOL, rtol=RTOL)
