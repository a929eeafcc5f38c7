"""The native attention of a decoder step (decode_attention.cpp) against the reference."""

from __future__ import annotations

import pytest
import torch

from mlnotebook import native
from mlnotebook.nn import scaled_dot_product as sdp
from mlnotebook.nn.scaled_dot_product import attention_decode, attention_reference

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}
DTYPES = [torch.float32, torch.float64]


def _inputs(batch, heads, group, keys, dim, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype)

    return (
        draw(batch, heads, group, dim),
        draw(batch, heads, keys, dim),
        draw(batch, heads, keys, dim),
    )


def _close(actual, expected, dtype) -> None:
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("group", [1, 5])
def test_equals_the_reference_with_a_padding_mask(dtype, group) -> None:
    query, key, value = _inputs(3, 4, group, 9, 16, dtype)
    keep = torch.ones(3, 1, 1, 9, dtype=torch.bool)
    keep[0, ..., 6:] = False  # a padded source
    keep[2, ..., ::2] = False  # holes, to be sure every masked key is skipped
    expected, _ = attention_reference(query, key, value, keep)
    _close(attention_decode(query, key, value, keep), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_equals_the_reference_without_a_mask(dtype) -> None:
    query, key, value = _inputs(5, 2, 1, 13, 64, dtype)
    expected, _ = attention_reference(query, key, value)
    _close(attention_decode(query, key, value), expected, dtype)


def test_a_fully_masked_row_gives_zeros_as_the_reference_does() -> None:
    query, key, value = _inputs(2, 2, 1, 4, 8, torch.float32)
    keep = torch.ones(2, 1, 1, 4, dtype=torch.bool)
    keep[1] = False
    out = attention_decode(query, key, value, keep)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    _close(out, attention_reference(query, key, value, keep)[0], torch.float32)


def test_cache_views_and_transposed_queries_are_read_in_place() -> None:
    """The self-attention cache is the first t positions of a bigger buffer, and the
    queries come out of the head split as a transposed view."""
    batch, heads, dim, filled, capacity = 3, 4, 16, 6, 16
    generator = torch.Generator().manual_seed(1)
    keys_buffer = torch.randn(batch, heads, capacity, dim, generator=generator)
    values_buffer = torch.randn(batch, heads, capacity, dim, generator=generator)
    key, value = keys_buffer[:, :, :filled], values_buffer[:, :, :filled]
    query = torch.randn(batch, 2, heads, dim, generator=generator).transpose(1, 2)
    assert not key.is_contiguous() and not query.is_contiguous()
    expected, _ = attention_reference(query, key.contiguous(), value.contiguous())
    _close(attention_decode(query, key, value), expected, torch.float32)


def test_keys_and_values_of_different_layouts_are_read_correctly() -> None:
    """Keys from a bigger buffer, values contiguous: both have unit stride along d."""
    generator = torch.Generator().manual_seed(2)
    key = torch.randn(3, 4, 16, 8, generator=generator)[:, :, :5]
    value = torch.randn(3, 4, 5, 8, generator=generator)
    query = torch.randn(3, 4, 1, 8, generator=generator)
    assert key.stride() != value.stride() and key.stride(-1) == value.stride(-1) == 1
    expected, _ = attention_reference(query, key.contiguous(), value)
    _close(attention_decode(query, key, value), expected, torch.float32)


def test_bad_shapes_are_refused_in_one_line() -> None:
    query, key, value = _inputs(2, 2, 1, 4, 8, torch.float32)
    with pytest.raises(RuntimeError, match="key/value must be"):
        attention_decode(query, key[:, :, :, :4], value[:, :, :, :4])


def _count_native_calls(monkeypatch) -> list[int]:
    calls = []
    real = sdp.attention_decode

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sdp, "attention_decode", counted)
    return calls


def test_attention_fast_takes_the_native_path_for_a_decoder_step(monkeypatch) -> None:
    calls = _count_native_calls(monkeypatch)
    query, key, value = _inputs(2, 4, 1, 7, 16, torch.float32)
    with torch.no_grad():
        sdp.attention_fast(query, key, value)
    assert len(calls) == 1
    # many queries (teacher forcing) or dropout: torch's kernel
    long_query, _, _ = _inputs(2, 4, sdp.DECODE_QUERIES + 1, 7, 16, torch.float32)
    with torch.no_grad():
        sdp.attention_fast(long_query, key, value)
        sdp.attention_fast(query, key, value, is_causal=False, dropout_p=0.1)
    assert len(calls) == 1


def test_with_autograd_torch_kernel_runs_and_gradients_flow(monkeypatch) -> None:
    calls = _count_native_calls(monkeypatch)
    query, key, value = _inputs(2, 4, 1, 7, 16, torch.float64)
    query.requires_grad_(True)
    sdp.attention_fast(query, key, value).sum().backward()
    assert calls == [] and query.grad is not None


def test_a_failed_build_falls_back_to_torch_with_one_line(monkeypatch, capsys) -> None:
    def failed_build():
        raise native.NativeBuildError("could not build the native CPU kernels (no compiler)")

    monkeypatch.setattr(native, "extension", failed_build)
    native.extension_or_none.cache_clear()
    try:
        query, key, value = _inputs(2, 4, 1, 7, 16, torch.float32)
        with torch.no_grad():
            out = sdp.attention_fast(query, key, value)
            sdp.attention_fast(query, key, value)
        _close(out, attention_reference(query, key, value)[0], torch.float32)
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and "no compiler" in said[0] and "torch's kernels" in said[0]
    finally:
        native.extension_or_none.cache_clear()
