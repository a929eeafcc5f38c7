"""Recurrent encoder-decoders for translation: plain, Luong attention, Bahdanau attention.

An LSTM encoder reads the source sentence; an LSTM decoder writes the target
one token at a time, each step fed the previous target token. The three
models differ in what the decoder may see of the source:

* `Seq2Seq` (Sutskever et al. 2014; Cho et al. 2014): only the encoder's
  final state, which becomes the decoder's initial state. Everything the
  decoder knows about the sentence has to pass through that one vector, a
  sentence written in an "imaginary language" of fixed size.
* `LuongSeq2Seq` (Luong et al. 2015): at each step the decoder's new state
  h_t attends over all encoder outputs; the context c_t and h_t make the
  attentional state h~_t = tanh(W_c [c_t; h_t]), from which the next token is
  predicted. With input feeding, h~_{t-1} is also fed into the next step, so
  the decoder knows where it looked before.
* `BahdanauSeq2Seq` (Bahdanau et al. 2015): the previous decoder state
  s_{t-1} attends first; the context c_t joins the embedded previous token as
  the LSTM's input; the output comes from t_t = tanh(W_o [s_t; c_t; E y_{t-1}])
  (the paper uses a maxout layer here; tanh keeps it simple).

All three implement `SEQ2SEQ_API.md`: `forward` (teacher forcing -> logits),
`encode`, `decode_step` (log-probabilities, new state, attention) and
`reorder_state`. `forward` and `decode_step` share each model's step code, so
log_softmax(forward logits) equals what step-by-step decoding gives; the
tests check this, since search relies on it.

Shared choices:

* A bidirectional encoder gives each direction hidden_size // 2 units, so its
  outputs and its concatenated final states (forward; backward) have the
  decoder's hidden_size and need no bridge layer (as in OpenNMT's "brnn").
* Source padding (pad_id, at the end of each row) is handled by passing the
  real lengths to the encoder LSTM and masking attention, so a sentence's
  translation does not depend on what it is batched with.
* `use_torch_lstm=True` builds the same architecture on torch.nn.LSTM (with
  packed sequences for the padding), with identical parameter names, for the
  speed comparison in benchmarks/lstm_speed.py.
* Tying: `share_embeddings` uses one embedding for source and target (a joint
  vocabulary); `tie_output` makes the output layer reuse the target embedding
  (Press & Wolf 2017), through a linear map hidden_size -> embedding_dim when
  the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mlnotebook.nn.attention import BahdanauAttention, LuongAttention
from mlnotebook.nn.lstm import LSTM
from mlnotebook.nn.packed_linear import linear


@dataclass
class RNNDecoderState:
    """What the recurrent decoders carry between steps (batch-first, except `hidden`)."""

    hidden: tuple[Tensor, Tensor]  # (h, c): [layers, B, H]
    encoder_outputs: Tensor  # [B, S, H]
    src_padding_mask: Tensor  # [B, S], True at padding
    attentional: Tensor | None = None  # Luong's h~_{t-1}: [B, H] (input feeding)
    projected_keys: Tensor | None = None  # Bahdanau's U h_s: [B, S, A], computed once

    def index_select(self, index: Tensor) -> RNNDecoderState:
        """Rows `index` of every tensor: the batch axis is 1 for `hidden`, 0 elsewhere."""
        selected = {"hidden": tuple(part.index_select(1, index) for part in self.hidden)}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name != "hidden" and value is not None:
                selected[field.name] = value.index_select(0, index)
        return replace(self, **selected)


class TorchLSTM(nn.LSTM):
    """torch.nn.LSTM taking our LSTM's `lengths` argument (via packing); same parameter names."""

    def forward(
        self,
        input: Tensor,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if lengths is None:
            return super().forward(input, hx)
        # packing needs every length >= 1; an empty row then reads one pad token
        lengths = torch.as_tensor(lengths, dtype=torch.long).cpu().clamp(min=1)
        total = input.shape[1 if self.batch_first else 0]
        packed = pack_padded_sequence(input, lengths, self.batch_first, enforce_sorted=False)
        output, state = super().forward(packed, hx)
        output, _ = pad_packed_sequence(output, self.batch_first, total_length=total)
        return output, state


def make_lstm(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    bidirectional: bool = False,
    use_torch_lstm: bool = False,
) -> nn.Module:
    """A batch-first LSTM: ours (fast path) or torch's, called the same way."""
    cls = TorchLSTM if use_torch_lstm else LSTM
    dropout = dropout if num_layers > 1 else 0.0  # between layers only, as torch warns
    return cls(
        input_size,
        hidden_size,
        num_layers,
        batch_first=True,
        dropout=dropout,
        bidirectional=bidirectional,
    )


class OutputLayer(nn.Module):
    """Pre-output vector [..., H] -> logits [..., V], optionally through the tied embedding."""

    def __init__(self, input_size: int, vocab_size: int, tied: nn.Embedding | None = None):
        super().__init__()
        if tied is None:
            self.bottleneck: nn.Module = nn.Identity()
            self.projection = nn.Linear(input_size, vocab_size)
            return
        embedding_dim = tied.embedding_dim
        same = embedding_dim == input_size
        self.bottleneck = nn.Identity() if same else nn.Linear(input_size, embedding_dim, False)
        self.projection = nn.Linear(embedding_dim, vocab_size)
        # logits = (bottleneck x) E^T + b: the output layer reuses the target embeddings
        self.projection.weight = tied.weight

    def forward(self, x: Tensor) -> Tensor:
        # logits = x' W^T + b, on packed weights inside a search (nn/packed_linear.py)
        return linear(self.bottleneck(x), self.projection.weight, self.projection.bias)


class RNNSeq2SeqBase(nn.Module):
    """Embeddings, encoder, output layer and the interface methods shared by the three models.

    A subclass builds `self.decoder` and implements `_step` (one token) and, where
    it can batch over time, `_decode_all` (teacher forcing, embedded targets
    [B, T, E] -> pre-output [B, T, H]). Subclasses spell out the shared constructor
    arguments rather than take **kwargs, so the model registry can see them.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.1,
        bidirectional_encoder: bool = True,
        share_embeddings: bool = False,
        tie_output: bool = False,
        use_torch_lstm: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, src_vocab_size, tgt_vocab_size, embedding_dim, hidden_size, num_layers)
        if bidirectional_encoder and hidden_size % 2:
            raise ValueError(
                f"{name}: a bidirectional encoder splits hidden_size in two; "
                f"got odd hidden_size={hidden_size}"
            )
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"{name}: share_embeddings needs one joint vocabulary, got "
                f"src_vocab_size={src_vocab_size} and tgt_vocab_size={tgt_vocab_size}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.use_torch_lstm = use_torch_lstm
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim, padding_idx=pad_id)
        self.src_embedding = (
            self.tgt_embedding
            if share_embeddings
            else nn.Embedding(src_vocab_size, embedding_dim, padding_idx=pad_id)
        )
        directions = 2 if bidirectional_encoder else 1
        self.encoder = make_lstm(
            embedding_dim,
            hidden_size // directions,
            num_layers,
            dropout,
            bidirectional_encoder,
            use_torch_lstm,
        )
        self.dropout = nn.Dropout(dropout)
        tied = self.tgt_embedding if tie_output else None
        self.output_layer = OutputLayer(hidden_size, tgt_vocab_size, tied)

    # --- the interface ---------------------------------------------------------------

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: src [B, S], tgt_in [B, T] (BOS first) -> logits [B, T, V]."""
        state = self.encode(src)
        embedded = self.dropout(self.tgt_embedding(tgt_in))  # [B, T, E]
        pre_output = self._decode_all(state, embedded)  # [B, T, H]
        return self.output_layer(self.dropout(pre_output))  # [B, T, V]

    def encode(self, src: Tensor, with_attention: bool = True) -> RNNDecoderState:
        # with_attention is only a hint: attention is part of these models' step
        # (and None without attention), so returning it costs nothing.
        encoder_outputs, hidden, src_padding_mask = self._encode_source(src)
        return RNNDecoderState(hidden, encoder_outputs, src_padding_mask)

    def decode_step(
        self, state: RNNDecoderState, prev_tokens: Tensor
    ) -> tuple[Tensor, RNNDecoderState, Tensor | None]:
        """prev_tokens [B] -> log-probabilities [B, V], new state, attention [B, S] or None."""
        embedded = self.dropout(self.tgt_embedding(prev_tokens))  # [B, E]
        pre_output, state, attention = self._step(state, embedded)  # [B, H]
        logits = self.output_layer(self.dropout(pre_output))  # [B, V]
        return F.log_softmax(logits, dim=-1), state, attention

    def reorder_state(self, state: RNNDecoderState, index: Tensor) -> RNNDecoderState:
        return state.index_select(index)

    # --- shared pieces -----------------------------------------------------------------

    def _encode_source(self, src: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor]:
        """src [B, S] -> encoder outputs [B, S, H], decoder's initial (h, c), padding mask."""
        src_padding_mask = src == self.pad_id  # [B, S]
        lengths = _right_padded_lengths(src_padding_mask, self.pad_id)  # [B]
        embedded = self.dropout(self.src_embedding(src))  # [B, S, E]
        encoder_outputs, (h_n, c_n) = self.encoder(embedded, lengths=lengths)  # [B, S, H]
        return encoder_outputs, (self._bridge(h_n), self._bridge(c_n)), src_padding_mask

    def _bridge(self, final: Tensor) -> Tensor:
        """Encoder final states [layers * D, B, H / D] -> decoder's [layers, B, H]."""
        layers_times_directions, batch, size = final.shape
        directions = layers_times_directions // self.num_layers
        final = final.view(self.num_layers, directions, batch, size)
        # per layer, concatenate (forward; backward) along the features
        return final.permute(0, 2, 1, 3).reshape(self.num_layers, batch, directions * size)

    def _decode_all(self, state: RNNDecoderState, embedded: Tensor) -> Tensor:
        """Default teacher forcing: run `_step` over the target (subclasses may batch it)."""
        outputs = []
        for embedded_t in embedded.unbind(1):  # [B, E] per step
            pre_output, state, _ = self._step(state, embedded_t)
            outputs.append(pre_output)
        return torch.stack(outputs, dim=1)  # [B, T, H]

    def _step(
        self, state: RNNDecoderState, embedded: Tensor
    ) -> tuple[Tensor, RNNDecoderState, Tensor | None]:
        raise NotImplementedError


class Seq2Seq(RNNSeq2SeqBase):
    """Encoder-decoder without attention: the encoder's final state is all the decoder gets."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.1,
        bidirectional_encoder: bool = True,
        share_embeddings: bool = False,
        tie_output: bool = False,
        use_torch_lstm: bool = False,
    ) -> None:
        super().__init__(
            src_vocab_size,
            tgt_vocab_size,
            pad_id,
            bos_id,
            eos_id,
            embedding_dim,
            hidden_size,
            num_layers,
            dropout,
            bidirectional_encoder,
            share_embeddings,
            tie_output,
            use_torch_lstm,
        )
        embedding_dim = self.tgt_embedding.embedding_dim
        self.decoder = make_lstm(
            embedding_dim,
            self.hidden_size,
            self.num_layers,
            self.dropout.p,
            False,
            self.use_torch_lstm,
        )

    def _decode_all(self, state: RNNDecoderState, embedded: Tensor) -> Tensor:
        # nothing depends on earlier outputs except the LSTM state: one call for all steps
        outputs, _ = self.decoder(embedded, state.hidden)  # [B, T, H]
        return outputs

    def _step(
        self, state: RNNDecoderState, embedded: Tensor
    ) -> tuple[Tensor, RNNDecoderState, None]:
        output, hidden = self.decoder(embedded.unsqueeze(1), state.hidden)  # [B, 1, H]
        return output.squeeze(1), replace(state, hidden=hidden), None


class LuongSeq2Seq(RNNSeq2SeqBase):
    """Luong global attention (`score` = dot | general | concat), with optional input feeding."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        score: str = "general",
        input_feeding: bool = True,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.1,
        bidirectional_encoder: bool = True,
        share_embeddings: bool = False,
        tie_output: bool = False,
        use_torch_lstm: bool = False,
    ) -> None:
        super().__init__(
            src_vocab_size,
            tgt_vocab_size,
            pad_id,
            bos_id,
            eos_id,
            embedding_dim,
            hidden_size,
            num_layers,
            dropout,
            bidirectional_encoder,
            share_embeddings,
            tie_output,
            use_torch_lstm,
        )
        hidden = self.hidden_size
        self.input_feeding = input_feeding
        decoder_input = self.tgt_embedding.embedding_dim + (hidden if input_feeding else 0)
        self.decoder = make_lstm(
            decoder_input, hidden, self.num_layers, self.dropout.p, False, self.use_torch_lstm
        )
        self.attention = LuongAttention(hidden, hidden, score)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)  # W_c

    def encode(self, src: Tensor, with_attention: bool = True) -> RNNDecoderState:
        state = super().encode(src, with_attention)
        if self.input_feeding:  # h~_0 = 0
            state.attentional = state.encoder_outputs.new_zeros(src.shape[0], self.hidden_size)
        return state

    def _attentional_state(self, state: RNNDecoderState, top: Tensor) -> tuple[Tensor, Tensor]:
        """top: the decoder's top-layer output h_t, [B, H] or [B, T, H] -> (h~_t, a_t)."""
        context, weights = self.attention(top, state.encoder_outputs, state.src_padding_mask)
        # h~_t = tanh(W_c [c_t; h_t])
        return torch.tanh(self.combine(torch.cat([context, top], dim=-1))), weights

    def _decode_all(self, state: RNNDecoderState, embedded: Tensor) -> Tensor:
        if self.input_feeding:  # each step needs the previous h~: go step by step
            return super()._decode_all(state, embedded)
        outputs, _ = self.decoder(embedded, state.hidden)  # [B, T, H]
        attentional, _ = self._attentional_state(state, outputs)  # all steps at once
        return attentional

    def _step(
        self, state: RNNDecoderState, embedded: Tensor
    ) -> tuple[Tensor, RNNDecoderState, Tensor]:
        if self.input_feeding:  # x_t = [E y_{t-1}; h~_{t-1}]
            embedded = torch.cat([embedded, state.attentional], dim=-1)
        output, hidden = self.decoder(embedded.unsqueeze(1), state.hidden)  # [B, 1, H]
        attentional, weights = self._attentional_state(state, output.squeeze(1))
        new_state = replace(state, hidden=hidden)
        if self.input_feeding:
            new_state.attentional = attentional
        return attentional, new_state, weights


class BahdanauSeq2Seq(RNNSeq2SeqBase):
    """Bahdanau additive attention, queried with the previous decoder state s_{t-1}."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        attention_size: int | None = None,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.1,
        bidirectional_encoder: bool = True,
        share_embeddings: bool = False,
        tie_output: bool = False,
        use_torch_lstm: bool = False,
    ) -> None:
        super().__init__(
            src_vocab_size,
            tgt_vocab_size,
            pad_id,
            bos_id,
            eos_id,
            embedding_dim,
            hidden_size,
            num_layers,
            dropout,
            bidirectional_encoder,
            share_embeddings,
            tie_output,
            use_torch_lstm,
        )
        hidden = self.hidden_size
        embedding_dim = self.tgt_embedding.embedding_dim
        self.attention = BahdanauAttention(hidden, hidden, attention_size or hidden)
        self.decoder = make_lstm(
            embedding_dim + hidden,
            hidden,
            self.num_layers,
            self.dropout.p,
            False,
            self.use_torch_lstm,
        )
        self.pre_output = nn.Linear(2 * hidden + embedding_dim, hidden)  # W_o

    def encode(self, src: Tensor, with_attention: bool = True) -> RNNDecoderState:
        state = super().encode(src, with_attention)
        # U h_s does not change while decoding: compute it once per sentence
        state.projected_keys = self.attention.project_keys(state.encoder_outputs)
        return state

    def _step(
        self, state: RNNDecoderState, embedded: Tensor
    ) -> tuple[Tensor, RNNDecoderState, Tensor]:
        previous_top = state.hidden[0][-1]  # s_{t-1}: top layer, [B, H]
        context, weights = self.attention(
            previous_top, state.encoder_outputs, state.src_padding_mask, state.projected_keys
        )  # c_t: [B, H], a_t: [B, S]
        # s_t = LSTM([E y_{t-1}; c_t], s_{t-1})
        lstm_input = torch.cat([embedded, context], dim=-1).unsqueeze(1)  # [B, 1, E + H]
        output, hidden = self.decoder(lstm_input, state.hidden)
        top = output.squeeze(1)  # s_t: [B, H]
        # t_t = tanh(W_o [s_t; c_t; E y_{t-1}])
        pre_output = torch.tanh(self.pre_output(torch.cat([top, context, embedded], dim=-1)))
        return pre_output, replace(state, hidden=hidden), weights


def _check_sizes(name: str, *sizes: int) -> None:
    labels = ("src_vocab_size", "tgt_vocab_size", "embedding_dim", "hidden_size", "num_layers")
    for label, value in zip(labels, sizes, strict=True):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {label} must be a positive integer, got {value!r}")


def _right_padded_lengths(src_padding_mask: Tensor, pad_id: int) -> Tensor:
    """Real length of each row; a clear error if a pad comes before a real token."""
    lengths = (~src_padding_mask).sum(dim=1)  # [B]
    positions = torch.arange(src_padding_mask.shape[1], device=src_padding_mask.device)
    expected = positions.unsqueeze(0) >= lengths.unsqueeze(1)  # padding only at the end
    if not torch.equal(expected, src_padding_mask):
        row = int((expected != src_padding_mask).any(dim=1).nonzero()[0])
        raise ValueError(
            f"src: padding (pad_id={pad_id}) must follow all real tokens of a row; "
            f"row {row} has pad_id before a real token"
        )
    return lengths
