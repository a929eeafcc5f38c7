"""Scaled dot-product attention: every query takes a weighted average of the values.

Each query vector is compared with every key by a dot product; the scores are
divided by sqrt(d_k) so their spread does not grow with the key width (which
would push the softmax into saturation and starve it of gradient), turned into
weights by a softmax over the keys, and used to average the value vectors:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Masks say which keys a query may look at. Throughout mlnotebook an attention
mask is *boolean with True meaning "may attend"*, the convention of
`torch.nn.functional.scaled_dot_product_attention`. Padding masks elsewhere use
the opposite sense (True = padding), so `keep_mask_from_padding` converts.

A query whose every key is masked (a source made only of padding) would get a
softmax over nothing: 0/0 = NaN. We define its output to be zero, as PyTorch's
fused kernel does, so a padded row can never poison a batch with NaNs.

Two paths, one truth: `attention_reference` writes the formula out and can
return the weights (for attention plots); `attention_fast` calls PyTorch's fused
kernel, except for a decoder step on the CPU (a few query positions, autograd
off), which goes to our own loop, `attention_decode` (decode_attention.cpp):
torch's kernel took 90-130 us per call at greedy search's shapes and 300-880 us
at beam search's, most of it spent preparing tiles for long sequences.
`scaled_dot_product_attention` picks a path; tests check they all agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mlnotebook import native

# At most this many query positions per (batch, head) go to `attention_decode`: a
# decoder step has one, or one per beam when the beams share their source's keys.
DECODE_QUERIES = 16


def keep_mask_from_padding(padding_mask: Tensor) -> Tensor:
    """padding_mask: [batch, keys], True at padding -> keep mask [batch, 1, 1, keys].

    The two singleton axes broadcast over heads and queries.
    """
    return ~padding_mask[:, None, None, :]


def causal_keep_mask(num_queries: int, num_keys: int, device: torch.device | None = None) -> Tensor:
    """[queries, keys] keep mask where query i sees keys 0..i (aligned at the end).

    When there are more keys than queries (a cache of earlier steps), the queries
    are the *last* positions, so query i sits at absolute position i + keys - queries.
    """
    offset = num_keys - num_queries
    query_pos = torch.arange(num_queries, device=device)[:, None] + offset
    key_pos = torch.arange(num_keys, device=device)[None, :]
    # allowed[i, j] = (j <= i): no peeking at later positions
    return key_pos <= query_pos


def combine_keep_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of the given keep masks (None means "no restriction")."""
    combined: Tensor | None = None
    for mask in masks:
        if mask is None:
            continue
        combined = mask if combined is None else combined & mask
    return combined


def attention_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    keep_mask: Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """The formula written out. Returns (output, weights).

    query: [..., q_len, d_k], key: [..., k_len, d_k], value: [..., k_len, d_v],
    keep_mask: bool, broadcastable to [..., q_len, k_len], True = may attend.
    output: [..., q_len, d_v]; weights: [..., q_len, k_len] (rows of fully masked
    queries are all zero).
    """
    d_k = query.shape[-1]
    # scores = Q K^T / sqrt(d_k)
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # [..., q_len, k_len]
    if keep_mask is not None:
        scores = scores.masked_fill(~keep_mask, float("-inf"))
    # A fully masked row is all -inf; subtracting its max (-inf) gives NaN.
    # Replace that max with 0 so exp(-inf) = 0 everywhere in the row instead.
    row_max = scores.amax(dim=-1, keepdim=True).detach()
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    # softmax_j(s_ij) = exp(s_ij - m_i) / sum_j exp(s_ij - m_i)
    exp_scores = torch.exp(scores - row_max)
    normaliser = exp_scores.sum(dim=-1, keepdim=True)
    # 0 / 0 for fully masked rows: divide by 1 instead, leaving weights of 0
    weights = exp_scores / torch.where(normaliser > 0, normaliser, torch.ones_like(normaliser))
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    # out_i = sum_j a_ij v_j
    return dropped @ value, weights


def attention_fast(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    keep_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """Same maths through PyTorch's fused kernel (no weights returned).

    `is_causal=True` lets the kernel skip the masked half without a mask tensor;
    it is only valid with no other mask and equal query/key lengths.
    """
    if is_causal and keep_mask is not None:
        raise ValueError("attention_fast: give either is_causal=True or keep_mask, not both")
    if not is_causal and dropout_p == 0.0 and _decode_fits(query, key, value, keep_mask):
        return attention_decode(query, key, value, keep_mask)
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=keep_mask, dropout_p=dropout_p, is_causal=is_causal
    )


def attention_decode(
    query: Tensor, key: Tensor, value: Tensor, keep_mask: Tensor | None = None
) -> Tensor:
    """The same maths for a decoder step, in native code (no autograd, CPU, float32/64).

    query: [batch, heads, q_len, d_k] with few q_len; key/value: [batch, heads, k_len, d]
    (read in place when they share one layout with unit stride along d, else copied);
    keep_mask: None or bool [batch, 1, 1, k_len].
    """
    if native.extension_or_none() is None:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=keep_mask)
    return torch.ops.mlnotebook.decode_attention(query, key, value, keep_mask)


def _decode_fits(query: Tensor, key: Tensor, value: Tensor, keep_mask: Tensor | None) -> bool:
    """Whether `attention_decode` takes this call (otherwise torch's fused kernel does)."""
    tensors = (query, key, value)
    return (
        query.dim() == key.dim() == value.dim() == 4
        and query.shape[-2] <= DECODE_QUERIES
        and all(t.device.type == "cpu" and t.dtype in native.DTYPES for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and key.stride(-1) == value.stride(-1) == 1
        and (keep_mask is None or _source_mask(keep_mask, query, key))
    )


def _source_mask(keep_mask: Tensor, query: Tensor, key: Tensor) -> bool:
    """A padding keep mask [batch, 1, 1, k_len], the only mask a decoder step needs."""
    shape = (query.shape[0], 1, 1, key.shape[-2])
    return keep_mask.dtype == torch.bool and tuple(keep_mask.shape) == shape


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    keep_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Dispatch: the fused kernel unless the caller wants the attention weights."""
    if need_weights:
        return attention_reference(query, key, value, keep_mask, dropout_p)
    return attention_fast(query, key, value, keep_mask, dropout_p), None
