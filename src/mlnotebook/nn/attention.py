"""Attention for recurrent encoder-decoders: Luong's global scores and Bahdanau's additive one.

A decoder that must squeeze a whole sentence through one fixed vector forgets
long inputs. Attention lets it look back instead: at every output step a
query (a decoder state) is scored against every encoder output (a key), the
scores become weights with a softmax over the source positions, and the
weighted average of the encoder outputs (the values; here the keys
themselves) is the context vector handed to the decoder.

    a_t(s) = softmax_s(score(q_t, k_s))        weights over source positions
    c_t    = sum_s a_t(s) k_s                  context

The modules differ only in `score`:

* Luong et al. 2015, "Effective Approaches to Attention-based NMT" (global):
    dot      score = q^T k                                  (needs equal sizes)
    general  score = q^T W_a k
    concat   score = v_a^T tanh(W_a [q; k])
* Bahdanau et al. 2015, "Neural Machine Translation by Jointly Learning to
  Align and Translate" (additive): score = v^T tanh(W q + U k). `U k` does
  not depend on the step, so `project_keys` computes it once per sentence.

Luong's concat and Bahdanau's additive are the same formula (W_a [q; k] =
W q + U k); what differs is the query the model feeds in (Luong: the current
decoder state h_t; Bahdanau: the previous one, s_{t-1}).

Padding: `padding_mask` [B, S] is True at padded source positions. Their
scores are set to the most negative float before the softmax and their
weights to exactly zero after it, so padded positions get weight 0, each row
over at least one real position sums to 1, and the padding's content cannot
reach the context. A query may be [B, Hq] (one decoder step) or [B, T, Hq]
(all steps at once); weights come back as [B, S] or [B, T, S].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LUONG_SCORES = ("dot", "general", "concat")


def masked_softmax(scores: Tensor, padding_mask: Tensor | None) -> Tensor:
    """Softmax over the last axis (source positions) giving padded positions exactly zero.

    scores: [B, T, S]; padding_mask: [B, S], True at padding.
    """
    if padding_mask is None:
        return torch.softmax(scores, dim=-1)
    pad = padding_mask.unsqueeze(1)  # [B, 1, S], broadcast over query steps
    # the most negative finite value, not -inf: a row of only padding stays finite
    scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1).masked_fill(pad, 0.0)


def _as_steps(query: Tensor) -> tuple[Tensor, bool]:
    """Give a one-step query [B, Hq] a time axis; report whether it had one."""
    if query.dim() == 2:
        return query.unsqueeze(1), True  # [B, 1, Hq]
    if query.dim() == 3:
        return query, False
    raise ValueError(
        f"attention: expected a query of shape [B, Hq] or [B, T, Hq], got {tuple(query.shape)}"
    )


def _attend(scores: Tensor, keys: Tensor, padding_mask: Tensor | None, one_step: bool):
    # a_t(s) = softmax_s(score_t(s)); scores, weights: [B, T, S]
    weights = masked_softmax(scores, padding_mask)
    # c_t = sum_s a_t(s) k_s; keys: [B, S, Hk] -> context: [B, T, Hk]
    context = torch.bmm(weights, keys)
    if one_step:
        return context.squeeze(1), weights.squeeze(1)  # [B, Hk], [B, S]
    return context, weights


class LuongAttention(nn.Module):
    """Luong's global attention. `context, weights = attention(query, keys, padding_mask)`."""

    def __init__(
        self,
        query_size: int,
        key_size: int,
        score: str = "general",
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if score not in LUONG_SCORES:
            raise ValueError(f"LuongAttention: score must be one of {LUONG_SCORES}, got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"LuongAttention: score='dot' needs query_size == key_size, "
                f"got {query_size} and {key_size}"
            )
        self.score_name = score
        if score == "general":
            # W_a maps a key into query space: score = q^T (W_a k)
            self.key_projection = nn.Linear(key_size, query_size, bias=False)
        elif score == "concat":
            attention_size = attention_size or query_size
            # W_a [q; k] split into its query and key columns: W_a [q; k] = W_q q + W_k k
            self.query_projection = nn.Linear(query_size, attention_size, bias=False)
            self.key_projection = nn.Linear(key_size, attention_size, bias=False)
            self.v = nn.Linear(attention_size, 1, bias=False)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """query: [B, T, Hq], keys: [B, S, Hk] -> scores [B, T, S] (before the softmax)."""
        if self.score_name == "dot":
            # score = q^T k
            return torch.bmm(query, keys.transpose(1, 2))
        if self.score_name == "general":
            # score = q^T W_a k
            return torch.bmm(query, self.key_projection(keys).transpose(1, 2))
        # score = v_a^T tanh(W_q q + W_k k): [B, T, 1, A] + [B, 1, S, A] -> [B, T, S, A]
        hidden = torch.tanh(
            self.query_projection(query).unsqueeze(2) + self.key_projection(keys).unsqueeze(1)
        )
        return self.v(hidden).squeeze(-1)  # [B, T, S]

    def forward(
        self, query: Tensor, keys: Tensor, padding_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        query, one_step = _as_steps(query)
        return _attend(self.score(query, keys), keys, padding_mask, one_step)

    def extra_repr(self) -> str:
        return f"score={self.score_name!r}"


class BahdanauAttention(nn.Module):
    """Additive attention, v^T tanh(W q + U k), with the key half cacheable per sentence."""

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)  # W
        self.key_projection = nn.Linear(key_size, attention_size, bias=False)  # U
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """U k for every source position: keys [B, S, Hk] -> [B, S, A]; reuse it every step."""
        return self.key_projection(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """query: [B, T, Hq], projected_keys: [B, S, A] -> scores [B, T, S]."""
        # e = v^T tanh(W q + U k): [B, T, 1, A] + [B, 1, S, A] -> [B, T, S, A]
        hidden = torch.tanh(self.query_projection(query).unsqueeze(2) + projected_keys.unsqueeze(1))
        return self.v(hidden).squeeze(-1)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        padding_mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        query, one_step = _as_steps(query)
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        return _attend(self.score(query, projected_keys), keys, padding_mask, one_step)
