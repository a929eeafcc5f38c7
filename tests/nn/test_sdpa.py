"""Scaled dot-product attention: the written-out formula against PyTorch's kernel."""

import math

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.nn.scaled_dot_product import (
    attention_fast,
    attention_reference,
    causal_keep_mask,
    combine_keep_masks,
    keep_mask_from_padding,
    scaled_dot_product_attention,
)


def _qkv(batch=2, heads=3, q_len=4, k_len=6, d_k=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape_q, shape_k = (batch, heads, q_len, d_k), (batch, heads, k_len, d_k)
    return (
        torch.randn(shape_q, generator=generator),
        torch.randn(shape_k, generator=generator),
        torch.randn(shape_k, generator=generator),
    )


def test_reference_matches_hand_written_softmax_without_mask():
    query, key, value = _qkv()
    out, weights = attention_reference(query, key, value)
    expected_weights = torch.softmax(query @ key.transpose(-1, -2) / math.sqrt(5), dim=-1)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(out, expected_weights @ value)


def test_single_key_gets_all_the_weight():
    query, key, value = _qkv(k_len=1)
    out, weights = attention_reference(query, key, value)
    torch.testing.assert_close(weights, torch.ones_like(weights))
    torch.testing.assert_close(out, value.expand_as(out))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_equals_fused_kernel_with_padding_and_causal_masks(seed):
    query, key, value = _qkv(q_len=6, k_len=6, seed=seed)
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    keep = combine_keep_masks(keep_mask_from_padding(padding), causal_keep_mask(6, 6))
    ref, weights = attention_reference(query, key, value, keep)
    fast = attention_fast(query, key, value, keep)
    torch.testing.assert_close(ref, fast, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ref, F.scaled_dot_product_attention(query, key, value, keep))
    # blocked keys get exactly zero weight, the rest sums to one
    assert bool((weights.masked_select(~keep.expand_as(weights)) == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 6))


def test_is_causal_flag_equals_explicit_causal_mask():
    query, key, value = _qkv(q_len=5, k_len=5)
    explicit, _ = attention_reference(query, key, value, causal_keep_mask(5, 5))
    torch.testing.assert_close(attention_fast(query, key, value, is_causal=True), explicit)


def test_causal_mask_with_cache_aligns_queries_with_the_last_keys():
    mask = causal_keep_mask(2, 4)
    expected = torch.tensor([[True, True, True, False], [True, True, True, True]])
    assert torch.equal(mask, expected)


def test_fully_masked_row_gives_zeros_and_finite_gradients():
    query, key, value = _qkv()
    for tensor in (query, key, value):
        tensor.requires_grad_(True)
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[1] = True  # the second sequence is all padding
    out, weights = attention_reference(query, key, value, keep_mask_from_padding(padding))
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    assert bool((out[1] == 0).all()) and bool((weights[1] == 0).all())
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (query, key, value))
    # the other row is unaffected and still matches the kernel
    fast = attention_fast(query, key, value, keep_mask_from_padding(padding))
    torch.testing.assert_close(out, fast, atol=1e-6, rtol=1e-5)


def test_gradients_of_both_paths_agree():
    inputs_ref = [t.requires_grad_(True) for t in _qkv(seed=3)]
    inputs_fast = [t.detach().clone().requires_grad_(True) for t in inputs_ref]
    keep = keep_mask_from_padding(torch.tensor([[False] * 5 + [True], [False] * 6]))
    grad_out = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(9))
    attention_reference(*inputs_ref, keep)[0].backward(grad_out)
    attention_fast(*inputs_fast, keep).backward(grad_out)
    for ref, fast in zip(inputs_ref, inputs_fast, strict=True):
        torch.testing.assert_close(ref.grad, fast.grad, atol=1e-5, rtol=1e-5)


def test_dispatch_returns_weights_only_when_asked():
    query, key, value = _qkv()
    out_fast, none = scaled_dot_product_attention(query, key, value)
    out_ref, weights = scaled_dot_product_attention(query, key, value, need_weights=True)
    assert none is None and weights.shape == (2, 3, 4, 6)
    torch.testing.assert_close(out_fast, out_ref, atol=1e-6, rtol=1e-5)


def test_is_causal_with_mask_is_refused():
    query, key, value = _qkv(q_len=6)
    with pytest.raises(ValueError, match="is_causal"):
        attention_fast(query, key, value, causal_keep_mask(6, 6), is_causal=True)
