"""Luong and Bahdanau attention: hand-computed scores, torch's SDPA as oracle, masking."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.nn.attention import BahdanauAttention, LuongAttention, masked_softmax

BATCH, STEPS, SRC, HIDDEN = 3, 4, 5, 6
LENGTHS = torch.tensor([SRC, 2, 4])


def _padding_mask() -> torch.Tensor:
    return torch.arange(SRC).unsqueeze(0) >= LENGTHS.unsqueeze(1)  # [B, S], True at padding


def _data(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(BATCH, STEPS, HIDDEN, generator=generator)
    keys = torch.randn(BATCH, SRC, HIDDEN, generator=generator)
    return query, keys


def _modules():
    torch.manual_seed(0)
    return {
        "dot": LuongAttention(HIDDEN, HIDDEN, "dot"),
        "general": LuongAttention(HIDDEN, HIDDEN, "general"),
        "concat": LuongAttention(HIDDEN, HIDDEN, "concat", attention_size=7),
        "bahdanau": BahdanauAttention(HIDDEN, HIDDEN, 7),
    }


KINDS = ["dot", "general", "concat", "bahdanau"]


@pytest.mark.parametrize("kind", KINDS)
def test_padding_gets_exactly_zero_weight_and_rows_sum_to_one(kind):
    attention = _modules()[kind]
    query, keys = _data()
    context, weights = attention(query, keys, _padding_mask())
    assert context.shape == (BATCH, STEPS, HIDDEN)
    assert weights.shape == (BATCH, STEPS, SRC)
    padded = _padding_mask().unsqueeze(1).expand_as(weights)
    assert torch.all(weights[padded] == 0)
    assert torch.all(weights[~padded] > 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(BATCH, STEPS))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_does_not_change_outputs(kind):
    attention = _modules()[kind]
    query, keys = _data()
    noisy = keys.clone()
    noisy[_padding_mask()] = torch.randn(int(_padding_mask().sum()), HIDDEN) * 50
    context, weights = attention(query, keys, _padding_mask())
    context2, weights2 = attention(query, noisy, _padding_mask())
    torch.testing.assert_close(context, context2, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, weights2, atol=0, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_query_equals_slice_of_all_steps(kind):
    attention = _modules()[kind]
    query, keys = _data()
    context, weights = attention(query, keys, _padding_mask())
    context_t, weights_t = attention(query[:, 2], keys, _padding_mask())
    assert weights_t.shape == (BATCH, SRC)
    torch.testing.assert_close(context_t, context[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(weights_t, weights[:, 2], atol=1e-6, rtol=0)


def test_dot_matches_torch_sdpa_with_unit_scale():
    attention = _modules()["dot"]
    query, keys = _data()
    context, _ = attention(query, keys, _padding_mask())
    allowed = ~_padding_mask().unsqueeze(1)  # SDPA's bool mask: True where attention is allowed
    expected = F.scaled_dot_product_attention(query, keys, keys, attn_mask=allowed, scale=1.0)
    torch.testing.assert_close(context, expected, atol=1e-5, rtol=0)


def _loop_weights(score_fn, query, keys, padding_mask):
    """Scores computed one (batch, step, source) triple at a time, then a masked softmax."""
    weights = torch.zeros(BATCH, STEPS, SRC)
    for b in range(BATCH):
        real = int((~padding_mask[b]).sum())
        for t in range(STEPS):
            scores = torch.stack([score_fn(query[b, t], keys[b, s]) for s in range(real)])
            weights[b, t, :real] = torch.softmax(scores, dim=0)
    return weights


def test_general_score_by_hand():
    attention = _modules()["general"]
    w_a = attention.key_projection.weight  # [Hq, Hk]
    query, keys = _data()
    expected = _loop_weights(lambda q, k: q @ w_a @ k, query, keys, _padding_mask())
    _, weights = attention(query, keys, _padding_mask())
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)


def test_concat_score_by_hand():
    attention = _modules()["concat"]
    # W_a [q; k]: rebuild the single matrix of Luong's formula from its two halves
    w_a = torch.cat([attention.query_projection.weight, attention.key_projection.weight], dim=1)
    v_a = attention.v.weight.squeeze(0)
    query, keys = _data()
    expected = _loop_weights(
        lambda q, k: v_a @ torch.tanh(w_a @ torch.cat([q, k])), query, keys, _padding_mask()
    )
    _, weights = attention(query, keys, _padding_mask())
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)


def test_bahdanau_score_by_hand_and_key_cache():
    attention = _modules()["bahdanau"]
    w, u = attention.query_projection.weight, attention.key_projection.weight
    v = attention.v.weight.squeeze(0)
    query, keys = _data()
    expected = _loop_weights(
        lambda q, k: v @ torch.tanh(w @ q + u @ k), query, keys, _padding_mask()
    )
    context, weights = attention(query, keys, _padding_mask())
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
    cached = attention(query, keys, _padding_mask(), projected_keys=attention.project_keys(keys))
    torch.testing.assert_close(cached[0], context, atol=0, rtol=0)


def test_all_padding_row_gives_zero_weights_not_nan():
    scores = torch.randn(2, 1, 3)
    padding_mask = torch.tensor([[True, True, True], [False, True, True]])
    weights = masked_softmax(scores, padding_mask)
    assert torch.all(weights[0] == 0)
    torch.testing.assert_close(weights[1], torch.tensor([[1.0, 0.0, 0.0]]))


def test_gradients_do_not_reach_padded_keys():
    attention = _modules()["general"]
    query, keys = _data()
    keys.requires_grad_(True)
    context, _ = attention(query, keys, _padding_mask())
    context.sum().backward()
    assert torch.all(keys.grad[_padding_mask()] == 0)
    assert torch.all(keys.grad[~_padding_mask()].abs().sum(-1) > 0)


def test_constructor_errors():
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(HIDDEN, HIDDEN, "cosine")
    with pytest.raises(ValueError, match="query_size == key_size"):
        LuongAttention(HIDDEN, HIDDEN + 1, "dot")
    with pytest.raises(ValueError, match="query of shape"):
        LuongAttention(HIDDEN, HIDDEN, "dot")(torch.randn(HIDDEN), torch.randn(1, SRC, HIDDEN))
