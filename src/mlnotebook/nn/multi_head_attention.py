"""Multi-head attention: several small attentions side by side, each in its own subspace.

One attention over d_model-wide vectors can only form one weighted average per
query. Multi-head attention projects queries, keys and values h times into
d_k = d_model / h dimensions, attends in each of these subspaces independently,
concatenates the h results and mixes them with one more projection:

    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O

All h query projections together are one [d_model, d_model] matrix, and so on
for keys and values; we store the three stacked as `in_proj_weight` [3 d, d],
exactly PyTorch's `nn.MultiheadAttention` layout, so its weights load as-is.
The stacking is also what makes it fast:

* self-attention (queries, keys and values all from x): one matmul with the
  whole [3 d, d] matrix gives Q, K and V at once;
* cross-attention (queries from the decoder, keys/values from the encoder
  memory): one matmul with the first d rows for Q, one with the last 2 d rows
  for K and V together. The K/V half depends only on the memory, so
  incremental decoding computes it once per sentence (`project_key_value`).

Padding-free projections (`Packing`): the projections act on each position
alone, so in training they need not touch the padding at all. With a
`Packing`, inputs are the real tokens only, [tokens, d_model]; the projected
Q/K/V are scattered into a zero-padded [batch, len, .] grid just for the
attention products, and gathered back before W^O. About a fifth of a typical
batch is padding, so this removes about a fifth of the projection work.

Masks are boolean "keep" masks (True = may attend), see `scaled_dot_product`.
Tensors are batch-first: [batch, length, d_model], or [tokens, d_model] packed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mlnotebook.nn.packed_linear import linear
from mlnotebook.nn.scaled_dot_product import (
    attention_fast,
    attention_reference,
    causal_keep_mask,
    combine_keep_masks,
)


@dataclass
class Packing:
    """Where the real tokens of a padded [batch, len] batch sit, to drop and restore padding.

    index: [tokens] positions of the real tokens in the flattened batch * len grid.
    """

    index: Tensor
    batch: int
    length: int

    @classmethod
    def from_keep(cls, keep: Tensor) -> Packing:
        """keep: [batch, len] bool, True at real tokens."""
        return cls(keep.reshape(-1).nonzero().squeeze(1), keep.shape[0], keep.shape[1])

    def pack(self, x: Tensor) -> Tensor:
        """[batch, len, ...] -> [tokens, ...]: the real tokens, in row-major order."""
        return x.reshape(self.batch * self.length, *x.shape[2:]).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """[tokens, ...] -> [batch, len, ...] with zeros at the padding."""
        grid = x.new_zeros(self.batch * self.length, *x.shape[1:])
        return grid.index_copy(0, self.index, x).view(self.batch, self.length, *x.shape[1:])


class MultiHeadAttention(nn.Module):
    """h parallel scaled dot-product attentions with fused input projections.

    Parameters mirror `torch.nn.MultiheadAttention` (same names and shapes):
    `in_proj_weight` [3 d, d], `in_proj_bias` [3 d], `out_proj` (Linear d -> d).
    `dropout` is applied to the attention weights while training.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: embed_dim={embed_dim} is not divisible by "
                f"num_heads={num_heads}"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same initialisation as torch.nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of `module`'s weights in our layout (batch-first either way)."""
        if not module._qkv_same_embed_dim:
            raise ValueError("MultiHeadAttention.from_torch: kdim/vdim != embed_dim is unsupported")
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError("MultiHeadAttention.from_torch: add_bias_kv/add_zero_attn unsupported")
        ours = cls(
            module.embed_dim, module.num_heads, module.dropout, module.in_proj_bias is not None
        )
        ours.to(module.in_proj_weight.device, module.in_proj_weight.dtype)
        ours.load_state_dict(module.state_dict())
        return ours

    # --- the three steps: project, attend, merge -----------------------------------------

    def _split_heads(self, x: Tensor) -> Tensor:
        """[batch, len, d_model] -> [batch, heads, len, head_dim]."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _merge_heads(self, x: Tensor) -> Tensor:
        """[batch, heads, len, head_dim] -> [batch, len, d_model] (Concat(head_1..head_h))."""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.embed_dim)

    def _bias_rows(self, start: int, stop: int) -> Tensor | None:
        return None if self.in_proj_bias is None else self.in_proj_bias[start:stop]

    def project_self(
        self, x: Tensor, packing: Packing | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V from one input with one matmul; each [batch, heads, len, head_dim]."""
        # [Q | K | V] = x [W^Q | W^K | W^V]^T + b
        qkv = linear(x, self.in_proj_weight, self.in_proj_bias)  # [batch, len, 3 d]
        if packing is not None:
            qkv = packing.unpack(qkv)  # [tokens, 3 d] -> [batch, len, 3 d]
        query, key, value = qkv.chunk(3, dim=-1)
        return self._split_heads(query), self._split_heads(key), self._split_heads(value)

    def project_query(self, x: Tensor, packing: Packing | None = None) -> Tensor:
        """Q alone (cross-attention queries): [batch, heads, len, head_dim]."""
        d = self.embed_dim
        query = linear(x, self.in_proj_weight[:d], self._bias_rows(0, d))
        return self._split_heads(query if packing is None else packing.unpack(query))

    def project_key_value(
        self, memory: Tensor, packing: Packing | None = None
    ) -> tuple[Tensor, Tensor]:
        """K and V from the memory with one matmul; each [batch, heads, mem_len, head_dim]."""
        d = self.embed_dim
        # [K | V] = memory [W^K | W^V]^T + b
        kv = linear(memory, self.in_proj_weight[d:], self._bias_rows(d, 3 * d))
        if packing is not None:
            kv = packing.unpack(kv)  # [tokens, 2 d] -> [batch, mem_len, 2 d]
        key, value = kv.chunk(2, dim=-1)  # each [batch, mem_len, d]
        return self._split_heads(key), self._split_heads(value)

    def attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        keep_mask: Tensor | None = None,
        need_weights: bool = False,
        is_causal: bool = False,
        packing: Packing | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention on already projected heads, then W^O (on real tokens only if packed).

        query: [batch, heads, q_len, head_dim]; key/value: [batch, heads, k_len, head_dim];
        keep_mask broadcastable to [batch, heads, q_len, k_len].
        Returns the output [batch, q_len, d_model] and, if asked, the per-head weights
        [batch, heads, q_len, k_len].
        """
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            if is_causal:
                causal = causal_keep_mask(query.shape[-2], key.shape[-2], query.device)
                keep_mask = combine_keep_masks(keep_mask, causal)
            heads, weights = attention_reference(query, key, value, keep_mask, dropout_p)
        else:
            heads = attention_fast(query, key, value, keep_mask, dropout_p, is_causal)
        merged = self._merge_heads(heads)  # [batch, q_len, d]
        if packing is not None:
            merged = packing.pack(merged)  # [tokens, d]
        return linear(merged, self.out_proj.weight, self.out_proj.bias), weights

    def forward(
        self,
        query: Tensor,
        memory: Tensor | None = None,
        keep_mask: Tensor | None = None,
        need_weights: bool = False,
        is_causal: bool = False,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Self-attention when `memory` is None, otherwise cross-attention to `memory`.

        query: [batch, q_len, d_model]; memory: [batch, mem_len, d_model]; either may be
        packed ([tokens, d_model]) when its `Packing` is given.
        """
        if memory is None:
            q, k, v = self.project_self(query, packing)
        else:
            q = self.project_query(query, packing)
            k, v = self.project_key_value(memory, memory_packing)
        return self.attend(q, k, v, keep_mask, need_weights, is_causal, packing)
