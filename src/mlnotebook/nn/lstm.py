"""Long short-term memory, with the gate equations written out.

An LSTM reads a sequence one step at a time and carries two vectors along:
the hidden state `h`, which it shows to the world, and the cell `c`, a
memory that is only ever scaled and added to, so gradients can flow through
many steps without vanishing. Four gates, all computed from the current input
and the previous hidden state, decide what happens to the memory:

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)   input gate: how much to write
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)   forget gate: how much to keep
    g_t =    tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate content to write
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)   output gate: how much to show
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

`LSTM` below is a drop-in for `torch.nn.LSTM`: same constructor, same
parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...), the same gate
order (i, f, g, o stacked in that order along the first weight dimension) and
the same initialisation, so state dicts load either way.

Two paths compute the same thing:

* the reference path (`fast=False`) runs one direction at a time, one cell
  per step, exactly as the equations read;
* the fast path (default) does the input half of every gate for all time
  steps and both directions in a single matrix product (it does not depend on
  h), then runs the recurrence for both directions together, one batched
  matrix product per step. tests/nn/test_lstm.py checks the two agree.

Padding without packing: pass `lengths` (one integer per batch row, padding
at the end of each row). A row stops updating after its last real token, so
`h_n`/`c_n` are the states at that token; outputs at padded positions are
exactly zero (what `pad_packed_sequence` gives). The reverse direction of a
bidirectional layer reads each row backwards from its own last real token,
not from the end of the padded batch, so a sentence gets the same encoding
whatever it is batched with. This matches `torch.nn.LSTM` on a
`PackedSequence`.

`torch.compile` is not used. Profiling the fast path on the CPU (batch 64,
hidden 512) puts about 80% of forward+backward time in the matrix products
(h @ W_hh and its two gradients per step); the element-wise gate arithmetic
that compiling would fuse is a few percent. Tried: compiling `lstm_pointwise`
took ~14 s on first call and left the step time unchanged within noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# One (h, c) pair: each [num_layers * num_directions, batch, hidden].
LSTMState = tuple[Tensor, Tensor]


def lstm_cell(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step, the readable way. x: [B, in], h, c: [B, H] -> (h_t, c_t)."""
    # gates = W_i x_t + b_i + W_h h_{t-1} + b_h, stacked as [i | f | g | o]
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # [B, 4H]
    return lstm_pointwise(gates, c)


def lstm_pointwise(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The element-wise half of the cell, from pre-activation gates [..., 4H] and c [..., H]."""
    in_gate, forget_gate, candidate, out_gate = gates.chunk(4, dim=-1)
    # i, f, o in (0, 1) are soft switches; g in (-1, 1) is the content to write
    in_gate = torch.sigmoid(in_gate)
    forget_gate = torch.sigmoid(forget_gate)
    candidate = torch.tanh(candidate)
    out_gate = torch.sigmoid(out_gate)
    # c_t = f_t * c_{t-1} + i_t * g_t
    c_next = forget_gate * c + in_gate * candidate
    # h_t = o_t * tanh(c_t)
    h_next = out_gate * torch.tanh(c_next)
    return h_next, c_next


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row of x: [T, B, ...] in time within its own length; padding stays put.

    Applying it twice gives x back, so the same call maps reversed outputs home.
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # [T, 1]
    lengths = lengths.to(x.device).unsqueeze(0)  # [1, B]
    # position t of row b reads position len_b - 1 - t while t < len_b, else itself
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)  # [T, B]
    source = source.view(*source.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, source)


class LSTM(nn.Module):
    """A multi-layer, optionally bidirectional LSTM with `torch.nn.LSTM`'s interface.

    `output, (h_n, c_n) = lstm(x, (h0, c0), lengths=None)`. x is [T, B, in]
    ([B, T, in] with batch_first, or [T, in] unbatched); h0/c0 default to
    zeros. `fast=False` selects the per-step reference path.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        fast: bool = True,
    ) -> None:
        super().__init__()
        _check_constructor(input_size, hidden_size, num_layers, dropout, proj_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        self.fast = fast
        factory = {"device": device, "dtype": dtype}
        gate_size = 4 * hidden_size  # i, f, g, o stacked
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes:
                name = f"l{layer}{suffix}"
                w_ih = torch.empty(gate_size, layer_input, **factory)
                w_hh = torch.empty(gate_size, hidden_size, **factory)
                self.register_parameter(f"weight_ih_{name}", nn.Parameter(w_ih))
                self.register_parameter(f"weight_hh_{name}", nn.Parameter(w_hh))
                if bias:
                    b_ih = nn.Parameter(torch.empty(gate_size, **factory))
                    b_hh = nn.Parameter(torch.empty(gate_size, **factory))
                    self.register_parameter(f"bias_ih_{name}", b_ih)
                    self.register_parameter(f"bias_hh_{name}", b_hh)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        # torch.nn.LSTM: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _layer_params(
        self, layer: int, suffix: str
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        name = f"l{layer}{suffix}"
        bias_ih = getattr(self, f"bias_ih_{name}") if self.bias else None
        bias_hh = getattr(self, f"bias_hh_{name}") if self.bias else None
        return (
            getattr(self, f"weight_ih_{name}"),
            getattr(self, f"weight_hh_{name}"),
            bias_ih,
            bias_hh,
        )

    def flatten_parameters(self) -> None:
        """Nothing to do: kept so code written for torch.nn.LSTM (cuDNN) runs unchanged."""

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0)):
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text

    def forward(
        self,
        input: Tensor,
        hx: LSTMState | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, LSTMState]:
        unbatched = input.dim() == 2
        if input.dim() not in (2, 3):
            raise ValueError(
                f"LSTM: expected input of 2 or 3 dimensions, got shape {tuple(input.shape)}"
            )
        if unbatched:
            input = input.unsqueeze(1)  # [T, 1, in]
            hx = None if hx is None else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        elif self.batch_first:
            input = input.transpose(0, 1)  # [B, T, in] -> [T, B, in]
        steps, batch, features = input.shape
        if features != self.input_size:
            raise ValueError(f"LSTM: expected input feature size {self.input_size}, got {features}")
        lengths_t = _check_lengths(lengths, batch, steps)
        h0, c0 = self._initial_state(hx, batch, input)
        output, h_n, c_n = self._run_layers(input, h0, c0, lengths_t)
        if unbatched:
            return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            output = output.transpose(0, 1)  # [T, B, D*H] -> [B, T, D*H]
        return output, (h_n, c_n)

    def _initial_state(self, hx: LSTMState | None, batch: int, like: Tensor) -> LSTMState:
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            zeros = like.new_zeros(shape)
            return zeros, zeros
        h0, c0 = hx
        for name, state in (("h0", h0), ("c0", c0)):
            if tuple(state.shape) != shape:
                raise ValueError(
                    f"LSTM: expected {name} of shape {shape}, got {tuple(state.shape)}"
                )
        return h0, c0

    def _run_layers(
        self, x: Tensor, h0: Tensor, c0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        # x: [T, B, in]; h0, c0: [L*D, B, H]
        directions = self.num_directions
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                # torch.nn.LSTM drops out every layer's output except the last one's
                x = F.dropout(x, self.dropout, self.training)
            first = layer * directions
            h_init, c_init = h0[first : first + directions], c0[first : first + directions]
            params = [self._layer_params(layer, suffix) for suffix in self._suffixes]
            run = _layer_fast if self.fast else _layer_reference
            x, h_last, c_last = run(x, h_init, c_init, params, lengths)  # x: [T, B, D*H]
            final_h.append(h_last)
            final_c.append(c_last)
        return x, torch.cat(final_h), torch.cat(final_c)


def _check_constructor(
    input_size: int, hidden_size: int, num_layers: int, dropout: float, proj_size: int
) -> None:
    if proj_size:
        raise ValueError(f"LSTM: proj_size is not supported (got proj_size={proj_size}); use 0")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"LSTM: {name} must be a positive integer, got {value!r}")
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"LSTM: num_layers must be an integer >= 1, got {num_layers!r}")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"LSTM: dropout must be in [0, 1], got {dropout}")


def _check_lengths(lengths: Tensor | Sequence[int] | None, batch: int, steps: int) -> Tensor | None:
    if lengths is None:
        return None
    lengths_t = torch.as_tensor(lengths, dtype=torch.long).flatten()
    if lengths_t.numel() != batch:
        raise ValueError(
            f"LSTM: expected {batch} lengths (one per batch row), got {lengths_t.numel()}"
        )
    if batch and (int(lengths_t.min()) < 0 or int(lengths_t.max()) > steps):
        raise ValueError(f"LSTM: lengths must lie in [0, {steps}], got {lengths_t.tolist()}")
    return lengths_t


def _step_mask(lengths: Tensor | None, steps: int, like: Tensor) -> Tensor | None:
    """[T, B, 1] True where step t is a real token of row b (None: every step is real)."""
    if lengths is None:
        return None
    steps_range = torch.arange(steps, device=like.device).unsqueeze(1)  # [T, 1]
    return (steps_range < lengths.to(like.device).unsqueeze(0)).unsqueeze(-1)  # [T, B, 1]


def _layer_reference(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    params: list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]],
    lengths: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction after the other, one `lstm_cell` per step."""
    mask = _step_mask(lengths, x.shape[0], x)
    outputs, h_last, c_last = [], [], []
    for direction, (w_ih, w_hh, b_ih, b_hh) in enumerate(params):
        # the reverse direction reads each row backwards from its last real token
        inputs = x if direction == 0 else reverse_padded(x, lengths)
        h, c = h0[direction], c0[direction]
        hs = []
        for t, x_t in enumerate(inputs.unbind(0)):  # x_t: [B, in]
            h_new, c_new = lstm_cell(x_t, h, c, w_ih, w_hh, b_ih, b_hh)
            if mask is None:
                h, c = h_new, c_new
                hs.append(h)
            else:  # padded steps leave the state alone and output zeros
                h = torch.where(mask[t], h_new, h)
                c = torch.where(mask[t], c_new, c)
                hs.append(h_new * mask[t])
        out = torch.stack(hs)  # [T, B, H]
        outputs.append(out if direction == 0 else reverse_padded(out, lengths))
        h_last.append(h)
        c_last.append(c)
    return torch.cat(outputs, dim=-1), torch.stack(h_last), torch.stack(c_last)


def _layer_fast(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    params: list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]],
    lengths: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, all directions at once; the input projection is one matrix product."""
    mask = _step_mask(lengths, x.shape[0], x)
    if len(params) == 1:
        weight_ih, weight_hh, bias_ih, bias_hh = params[0]
        bias = bias_ih + bias_hh if bias_ih is not None else None
        # W_i x_t + b_i + b_h for every t at once: [T, B, 4H]
        gates_x = F.linear(x, weight_ih, bias)
        # no direction axis here: indexing one out would cost a zero tensor the size of
        # the weights in every backward pass, and a batch of one matrix product is slower
        hs, h, c = _recurrence(gates_x, h0[0], c0[0], weight_hh.t(), mask)  # hs: [T, B, H]
        return hs, h.unsqueeze(0), c.unsqueeze(0)
    steps, batch, _ = x.shape
    gate_size = params[0][1].shape[0]
    # W_i x_t + b_i + b_h for every t and both directions at once: [T, B, 2*4H]
    weight_ih = torch.cat([p[0] for p in params])
    bias = torch.cat([p[2] + p[3] for p in params]) if params[0][2] is not None else None
    gates_x = F.linear(x, weight_ih, bias).view(steps, batch, 2, gate_size)
    # the reverse direction runs on time-reversed gate inputs, alongside the forward one
    forward_gates, reverse_gates = gates_x.unbind(2)  # [T, B, 4H] each
    gates_x = torch.stack([forward_gates, reverse_padded(reverse_gates, lengths)], dim=1)
    weight_hh_t = torch.stack([p[1] for p in params]).transpose(1, 2)  # [2, H, 4H]
    hs, h, c = _recurrence(gates_x, h0, c0, weight_hh_t, mask)  # hs: [T, 2, B, H]
    forward_out, reverse_out = hs.unbind(1)
    return torch.cat([forward_out, reverse_padded(reverse_out, lengths)], dim=-1), h, c


def _recurrence(
    gates_x: Tensor, h: Tensor, c: Tensor, weight_hh_t: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """The part that cannot be batched over time.

    One direction: gates_x [T, B, 4H], h, c [B, H], weight_hh_t [H, 4H].
    Both directions: gates_x [T, 2, B, 4H], h, c [2, B, H], weight_hh_t [2, H, 4H].
    """
    batched = weight_hh_t.dim() == 3
    hs = []
    # unbind, not gates_x[t]: each indexing op's backward would write a zero tensor the
    # size of all of gates_x, making the backward pass quadratic in the sequence length
    for t, gates_t in enumerate(gates_x.unbind(0)):
        if batched:  # gates = (W_i x_t + b) + h_{t-1} W_h^T, per direction
            gates = torch.baddbmm(gates_t, h, weight_hh_t)  # [2, B, 4H]
        else:
            gates = torch.addmm(gates_t, h, weight_hh_t)  # [B, 4H]
        h_new, c_new = lstm_pointwise(gates, c)
        if mask is None:
            h, c = h_new, c_new
            hs.append(h)
        else:  # mask[t]: [B, 1] broadcasts over directions and features
            h = torch.where(mask[t], h_new, h)
            c = torch.where(mask[t], c_new, c)
            hs.append(h_new * mask[t])
    return torch.stack(hs), h, c
