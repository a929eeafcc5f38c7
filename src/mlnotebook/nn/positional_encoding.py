"""Sinusoidal positional encoding: tell an order-blind model where each token sits.

Attention treats its inputs as a set: permute the tokens and the outputs are
permuted the same way. To give the model word order, "Attention Is All You
Need" (section 3.5) adds to each embedding a fixed vector that depends only on
the position. Dimension pairs (2i, 2i+1) hold a sine and a cosine of the same
frequency, and the frequencies fall geometrically from 1 to 1/10000:

    PE[pos, 2i]     = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))

Because sin/cos of (pos + k) are a fixed rotation of sin/cos of pos, a relative
offset is a linear function of the encoding, which attention can pick up. The
sines and cosines are *interleaved* (even columns sin, odd columns cos) as in
the paper, not stacked in two halves as some implementations do.

The table is computed once up to `max_len` and stored as a non-persistent
buffer (it is a function of the shape, not a learned weight).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The [max_len, d_model] table PE defined above (d_model must be even)."""
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal_table: d_model={d_model} must be even")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # [max_len, 1]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # [d_model / 2]
    # 1 / 10000^(2i/d) = exp(-(2i/d) ln 10000); float64 keeps large positions exact
    inverse_frequency = torch.exp(-two_i / d_model * math.log(10000.0))
    angle = position * inverse_frequency  # [max_len, d_model / 2]
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)  # PE[pos, 2i]
    table[:, 1::2] = torch.cos(angle)  # PE[pos, 2i+1]
    return table.float()


class PositionalEncoding(nn.Module):
    """Adds PE[offset : offset + len] to [batch, len, d_model] inputs, then dropout."""

    def __init__(self, d_model: int, max_len: int = 1024, dropout: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """x: [batch, len, d_model]; `offset` is the position of x[:, 0] (decoding step)."""
        length = x.shape[1]
        if offset + length > self.max_len:
            raise ValueError(
                f"PositionalEncoding: position {offset + length - 1} is beyond "
                f"max_len={self.max_len}; build the model with a larger max_len"
            )
        pe = self.table[offset : offset + length].to(x.dtype)  # [len, d_model]
        return self.dropout(x + pe)
