"""Tiny models implementing the seq2seq interface, for the translate tests.

`ToySeq2Seq` is a one-layer GRU encoder-decoder with dot-product attention,
small enough to learn a copy task in seconds. Its outputs do not depend on how
much padding follows a sentence (the encoder runs left to right, the decoder
starts from the masked mean of the encoder outputs), so a batch split across
processes computes exactly what the whole batch computes.

`TableModel` has no encoder at all: the next-token distribution is a fixed
table indexed by the previous token, which lets a test build a case where
greedy search goes wrong and beam search does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ToyState:
    memory: Tensor  # [B, S, H]
    src_padding: Tensor  # [B, S], True at padding
    hidden: Tensor  # [B, H]


class ToySeq2Seq(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
        hidden_dim: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.embedding = nn.Embedding(vocab_size, hidden_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.decoder = nn.GRUCell(2 * hidden_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * hidden_dim, vocab_size)

    def encode(self, src: Tensor, with_attention: bool = True) -> ToyState:
        src_padding = src == self.pad_id
        memory, _ = self.encoder(self.dropout(self.embedding(src)))  # [B, S, H]
        keep = (~src_padding).unsqueeze(-1).float()
        hidden = (memory * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return ToyState(memory, src_padding, hidden)

    def _step(self, state: ToyState, prev: Tensor) -> tuple[Tensor, ToyState, Tensor]:
        scores = torch.einsum("bsh,bh->bs", state.memory, state.hidden)
        attention = scores.masked_fill(state.src_padding, float("-inf")).softmax(-1)
        context = torch.einsum("bs,bsh->bh", attention, state.memory)
        hidden = self.decoder(torch.cat([self.embedding(prev), context], -1), state.hidden)
        logits = self.output(self.dropout(torch.cat([hidden, context], -1)))
        return logits, ToyState(state.memory, state.src_padding, hidden), attention

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        state = self.encode(src)
        logits = []
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self._step(state, tgt_in[:, t])
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # [B, T, V]

    def decode_step(self, state: ToyState, prev_tokens: Tensor):
        logits, state, attention = self._step(state, prev_tokens)
        return F.log_softmax(logits, dim=-1), state, attention

    def reorder_state(self, state: ToyState, index: Tensor) -> ToyState:
        return ToyState(state.memory[index], state.src_padding[index], state.hidden[index])


@dataclass
class TableState:
    step: Tensor  # [B] how many tokens were decoded, so attention can move along


class TableModel(nn.Module):
    """next-token log-probabilities = log(table[prev]); attention peaks at the step index."""

    def __init__(self, table: Tensor, pad_id: int = 0, bos_id: int = 2, eos_id: int = 3):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.register_buffer("log_table", table.clamp(min=1e-12).log())
        self.src_len = 0

    def encode(self, src: Tensor, with_attention: bool = True) -> TableState:
        self.src_len = src.size(1)
        return TableState(torch.zeros(src.size(0), dtype=torch.long))

    def decode_step(self, state: TableState, prev_tokens: Tensor):
        attention = F.one_hot(state.step.clamp(max=self.src_len - 1), self.src_len).float()
        return self.log_table[prev_tokens], TableState(state.step + 1), attention

    def reorder_state(self, state: TableState, index: Tensor) -> TableState:
        return TableState(state.step[index])

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        return self.log_table[tgt_in]
