"""Multi-head attention against torch.nn.MultiheadAttention with the same weights."""

import pytest
import torch
from torch import nn

from mlnotebook.nn.multi_head_attention import MultiHeadAttention, Packing
from mlnotebook.nn.scaled_dot_product import (
    causal_keep_mask,
    combine_keep_masks,
    keep_mask_from_padding,
)

D_MODEL, HEADS = 12, 3


def _pair(seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    with torch.no_grad():  # non-zero biases so a bias slicing mistake would show
        theirs.in_proj_bias.normal_()
        theirs.out_proj.bias.normal_()
    return theirs, MultiHeadAttention.from_torch(theirs)


def test_parameter_names_and_shapes_match_torch():
    theirs, ours = _pair()
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    assert shapes == {k: v.shape for k, v in theirs.state_dict().items()}
    assert shapes["in_proj_weight"] == (3 * D_MODEL, D_MODEL)


def test_self_attention_with_padding_and_causal_mask_matches_torch():
    theirs, ours = _pair()
    x = torch.randn(2, 5, D_MODEL)
    padding = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    causal_blocked = ~causal_keep_mask(5, 5)
    expected, expected_weights = theirs(
        x, x, x, key_padding_mask=padding, attn_mask=causal_blocked, average_attn_weights=False
    )
    keep = combine_keep_masks(keep_mask_from_padding(padding), causal_keep_mask(5, 5))
    out, weights = ours(x, keep_mask=keep, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-5)
    fast, _ = ours(x, keep_mask=keep)  # the fused kernel path
    torch.testing.assert_close(fast, expected, atol=1e-6, rtol=1e-5)


def test_cross_attention_matches_torch_and_its_gradients():
    theirs, ours = _pair(seed=1)
    query = torch.randn(2, 4, D_MODEL, requires_grad=True)
    memory = torch.randn(2, 7, D_MODEL, requires_grad=True)
    padding = torch.tensor([[False] * 7, [False] * 2 + [True] * 5])
    expected, _ = theirs(query, memory, memory, key_padding_mask=padding, need_weights=False)
    ours_query = query.detach().clone().requires_grad_(True)
    ours_memory = memory.detach().clone().requires_grad_(True)
    out, _ = ours(ours_query, ours_memory, keep_mask_from_padding(padding))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    grad_out = torch.randn_like(out)
    expected.backward(grad_out)
    out.backward(grad_out)
    torch.testing.assert_close(ours_query.grad, query.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_memory.grad, memory.grad, atol=1e-5, rtol=1e-5)
    for name, parameter in ours.named_parameters():
        their_grad = theirs.get_parameter(name).grad
        torch.testing.assert_close(parameter.grad, their_grad, atol=1e-5, rtol=1e-5)


def test_fused_projections_equal_the_separate_ones():
    _, ours = _pair()
    x = torch.randn(2, 5, D_MODEL)
    query, key, value = ours.project_self(x)
    torch.testing.assert_close(query, ours.project_query(x))
    split_key, split_value = ours.project_key_value(x)
    torch.testing.assert_close(key, split_key)
    torch.testing.assert_close(value, split_value)
    assert query.shape == (2, HEADS, 5, D_MODEL // HEADS)


def test_indivisible_width_is_refused():
    with pytest.raises(ValueError, match="embed_dim=10 is not divisible by num_heads=3"):
        MultiHeadAttention(10, 3)


def test_packed_attention_equals_padded_attention_on_real_tokens():
    _, ours = _pair(seed=2)
    x = torch.randn(2, 5, D_MODEL)
    memory = torch.randn(2, 6, D_MODEL)
    x_padding = torch.tensor([[False] * 5, [False] * 2 + [True] * 3])
    memory_padding = torch.tensor([[False] * 4 + [True] * 2, [False] * 6])
    packing, memory_packing = Packing.from_keep(~x_padding), Packing.from_keep(~memory_padding)
    assert torch.equal(packing.unpack(packing.pack(x))[~x_padding], x[~x_padding])
    assert bool((packing.unpack(packing.pack(x))[x_padding] == 0).all())

    keep = keep_mask_from_padding(x_padding)
    dense, _ = ours(x, keep_mask=keep)
    packed, _ = ours(packing.pack(x), keep_mask=keep, packing=packing)
    torch.testing.assert_close(packed, dense[~x_padding], atol=1e-6, rtol=1e-5)

    memory_keep = keep_mask_from_padding(memory_padding)
    dense, _ = ours(x, memory, memory_keep)
    packed, _ = ours(
        packing.pack(x), memory_packing.pack(memory), memory_keep,
        packing=packing, memory_packing=memory_packing,
    )  # fmt: skip
    torch.testing.assert_close(packed, dense[~x_padding], atol=1e-6, rtol=1e-5)
