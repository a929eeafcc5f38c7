"""The Transformer (Vaswani et al., 2017): an encoder-decoder built from attention alone.

The encoder turns source tokens into a memory, one vector per token, by N
identical layers of (self-attention, feed-forward). The decoder builds the
translation left to right with N layers of (masked self-attention,
cross-attention to the memory, feed-forward). Every sublayer is wrapped in a
residual connection and layer normalisation, in one of two orders:

* **post-norm** (the paper's, `norm_first=False`): x = LN(x + Dropout(Sublayer(x))).
  The normalisation sits on the residual path itself; it trains to slightly
  better models but needs learning-rate warm-up to start at all.
* **pre-norm** (`norm_first=True`): x = x + Dropout(Sublayer(LN(x))).
  The residual path is left untouched, which keeps gradients well scaled in deep
  stacks and tolerates larger learning rates; it needs one final LN after the
  last layer (`final_norm`), since nothing else normalises the output.

`Transformer` has the same structure, parameter shapes and mask conventions as
`torch.nn.Transformer`, so `Transformer.from_torch` copies a trained torch model
and the tests compare the two. `TransformerSeq2Seq` adds embeddings, positions
and the output layer and implements the interface in SEQ2SEQ_API.md, including
incremental decoding with a key/value cache.

Inside this file tensors are batch-first ([batch, len, d_model]) and masks are
boolean keep masks (True = may attend); `Transformer.forward` accepts torch's
conventions (True = blocked, or additive float masks) and converts.

Decoding has a native fast path. A decoder step pushes only a few rows through
every layer, and in Python most of its time went to the ~100 torch calls per
layer rather than to arithmetic. `Decoder.forward_step` (the readable
reference) hands the step to `Decoder.forward_step_native`, one C++ call for
all layers (decoder_step.cpp) with the same kernels, whenever it applies
(inference: eval mode, no autograd, CPU float32/64, no attention maps asked);
tests/nn/test_decoder_step.py checks the two agree. `encode` likewise runs the
encoder on the real tokens only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlnotebook import native
from mlnotebook.nn.layer_norm import LayerNorm
from mlnotebook.nn.multi_head_attention import MultiHeadAttention, Packing
from mlnotebook.nn.packed_linear import block_memo, linear, weight_for
from mlnotebook.nn.positional_encoding import PositionalEncoding
from mlnotebook.nn.scaled_dot_product import (
    combine_keep_masks,
    keep_mask_from_padding,
)

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}
# Positions the self-attention cache has room for before it first grows (doubling).
CACHE_START = 16


def _layer_norm(d_model: int, eps: float, bias: bool) -> nn.Module:
    # Our own layer norm (same parameter names as torch's, tested equal to it).
    return LayerNorm(d_model, eps=eps, bias=bias)


# --- building blocks ----------------------------------------------------------------------


class FeedForward(nn.Module):
    """Position-wise feed-forward network, the same two-layer MLP at every position.

    FFN(x) = W_2 Dropout(act(W_1 x + b_1)) + b_2, with act = ReLU (paper) or GELU.
    """

    def __init__(
        self, d_model: int, d_ff: int, dropout: float, activation: str = "relu", bias: bool = True
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"FeedForward: activation={activation!r}, expected one of relu, gelu")
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.activation_name = activation
        self.activation = _ACTIVATIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        # x: [batch, len, d_model] -> hidden: [batch, len, d_ff] -> [batch, len, d_model]
        hidden = self.activation(linear(x, self.linear1.weight, self.linear1.bias))
        return linear(self.dropout(hidden), self.linear2.weight, self.linear2.bias)


class Residual(nn.Module):
    """A sublayer's residual connection, dropout and layer norm, in either order.

    post-norm: x = LN(x + Dropout(f(x)));  pre-norm: x = x + Dropout(f(LN(x))).
    `f` returns (output, extra) so attention can hand its weights through.
    """

    def __init__(self, d_model: int, dropout: float, norm_first: bool, eps: float, bias: bool):
        super().__init__()
        self.norm = _layer_norm(d_model, eps, bias)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], tuple[Tensor, object]]):
        if self.norm_first:
            out, extra = sublayer(self.norm(x))
            return x + self.dropout(out), extra
        out, extra = sublayer(x)
        return self.norm(x + self.dropout(out)), extra


@dataclass
class LayerConfig:
    """Hyper-parameters shared by every layer of a stack."""

    d_model: int = 512
    num_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    activation: str = "relu"
    norm_first: bool = False
    layer_norm_eps: float = 1e-5
    bias: bool = True


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each inside a `Residual`."""

    def __init__(self, config: LayerConfig):
        super().__init__()
        c = config
        self.self_attn = MultiHeadAttention(c.d_model, c.num_heads, c.dropout, c.bias)
        self.feed_forward = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation, c.bias)
        self.attn_block = Residual(c.d_model, c.dropout, c.norm_first, c.layer_norm_eps, c.bias)
        self.ff_block = Residual(c.d_model, c.dropout, c.norm_first, c.layer_norm_eps, c.bias)

    def forward(
        self, x: Tensor, keep_mask: Tensor | None = None, packing: Packing | None = None
    ) -> Tensor:
        # x: [batch, src_len, d_model] (or [tokens, d_model] with packing)
        # keep_mask: [batch or 1, 1, 1 or src_len, src_len]
        x, _ = self.attn_block(x, lambda h: self.self_attn(h, keep_mask=keep_mask, packing=packing))
        x, _ = self.ff_block(x, lambda h: (self.feed_forward(h), None))
        return x


@dataclass
class LayerCache:
    """One decoder layer's keys and values for incremental decoding.

    Self-attention keys/values grow by one position per step, one row per decoded
    sequence. They live in buffers with room to spare, [rows, heads, capacity,
    head_dim], of which the first `length` positions are filled: appending writes
    one position in place instead of copying the whole cache (torch.cat), and
    the capacity doubles when full. `self_key`/`self_value` are the filled views,
    [rows, heads, length, head_dim].

    A state may be stepped from twice (two continuations of one prefix): `filled`,
    shared by every cache over the same buffers, counts the positions written, and
    a cache that would overwrite another's position copies the buffers first.

    cross_key/cross_value come from the memory, computed once, one row per source
    sentence: [sources, heads, src_len, head_dim]. The beams of one sentence all
    read the same row (see `TransformerState`).
    """

    key_buffer: Tensor
    value_buffer: Tensor
    length: int
    cross_key: Tensor
    cross_value: Tensor
    filled: list[int] = field(default_factory=lambda: [0])  # shared: positions written

    @property
    def self_key(self) -> Tensor:
        return self.key_buffer[:, :, : self.length]  # [rows, heads, length, hd]

    @property
    def self_value(self) -> Tensor:
        return self.value_buffer[:, :, : self.length]

    def append(self, key: Tensor, value: Tensor) -> LayerCache:
        """The cache one position longer: key, value [rows, heads, 1, hd]."""
        room = self.make_room()
        room.key_buffer[:, :, self.length] = key[:, :, 0]
        room.value_buffer[:, :, self.length] = value[:, :, 0]
        return room.written()

    def make_room(self) -> LayerCache:
        """This cache with position `length` free to write in its buffers."""
        if self.length < self.key_buffer.shape[2] and self.filled[0] <= self.length:
            return self
        # full, or position `length` belongs to another continuation: new buffers
        return self._copied()

    def written(self) -> LayerCache:
        """The cache one position longer, once position `length` of a `make_room`
        cache's buffers holds the new key and value."""
        self.filled[0] = self.length + 1
        return replace(self, length=self.length + 1)

    def select_rows(self, index: Tensor) -> LayerCache:
        """Rows `index` [new_rows]: the filled positions are copied (beam search
        does this at every step) into new buffers that keep the capacity, so the
        next append has room without growing (copying) them again."""
        return self._copied(index)

    def _copied(self, rows: Tensor | None = None) -> LayerCache:
        """New buffers holding the filled positions (of the rows `rows`, or of all),
        with this capacity, doubled if full: room for the next position."""
        capacity = self.key_buffer.shape[2]
        capacity = 2 * capacity if self.length == capacity else capacity
        return replace(
            self,
            key_buffer=_with_capacity(self.self_key, capacity, rows),
            value_buffer=_with_capacity(self.self_value, capacity, rows),
            filled=[self.length],
        )

    def select_sources(self, index: Tensor) -> LayerCache:
        return replace(
            self,
            cross_key=self.cross_key.index_select(0, index),
            cross_value=self.cross_value.index_select(0, index),
        )


def _with_capacity(filled: Tensor, capacity: int, rows: Tensor | None = None) -> Tensor:
    """A [rows, heads, capacity, hd] buffer starting with `filled` [rows, heads, n, hd],
    or with its rows `rows` [new_rows] only."""
    count, heads, length, head_dim = filled.shape
    count = count if rows is None else rows.numel()
    buffer = filled.new_empty(count, heads, capacity, head_dim)
    if rows is None:
        buffer[:, :, :length] = filled
    else:  # written in place into the buffer's first `length` positions
        torch.index_select(filled, 0, rows, out=buffer[:, :, :length])
    return buffer


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the memory, feed-forward; each in a `Residual`."""

    def __init__(self, config: LayerConfig):
        super().__init__()
        c = config
        self.self_attn = MultiHeadAttention(c.d_model, c.num_heads, c.dropout, c.bias)
        self.cross_attn = MultiHeadAttention(c.d_model, c.num_heads, c.dropout, c.bias)
        self.feed_forward = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation, c.bias)
        self.self_block = Residual(c.d_model, c.dropout, c.norm_first, c.layer_norm_eps, c.bias)
        self.cross_block = Residual(c.d_model, c.dropout, c.norm_first, c.layer_norm_eps, c.bias)
        self.ff_block = Residual(c.d_model, c.dropout, c.norm_first, c.layer_norm_eps, c.bias)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_keep_mask: Tensor | None = None,
        memory_keep_mask: Tensor | None = None,
        self_is_causal: bool = False,
        need_weights: bool = False,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Whole target at once. x: [batch, tgt_len, d]; memory: [batch, src_len, d].

        Returns x and, if asked, cross-attention weights [batch, heads, tgt_len, src_len].
        `self_is_causal=True` applies the causal mask through the fused kernel without
        building a mask tensor (only valid when self_keep_mask is None). With packings,
        x and memory hold real tokens only ([tokens, d]).
        """

        def self_attention(h: Tensor) -> tuple[Tensor, Tensor | None]:
            return self.self_attn(
                h, keep_mask=self_keep_mask, is_causal=self_is_causal, packing=packing
            )

        def cross_attention(h: Tensor) -> tuple[Tensor, Tensor | None]:
            return self.cross_attn(
                h, memory, memory_keep_mask, need_weights, packing=packing,
                memory_packing=memory_packing,
            )  # fmt: skip

        x, _ = self.self_block(x, self_attention)
        x, weights = self.cross_block(x, cross_attention)
        x, _ = self.ff_block(x, lambda h: (self.feed_forward(h), None))
        return x, weights

    def start_cache(self, memory: Tensor, packing: Packing | None = None) -> LayerCache:
        """Cross-attention K/V from the memory and an empty self-attention cache.

        memory: [sources, src_len, d], or its real tokens [tokens, d] with `packing`.
        """
        cross_key, cross_value = self.cross_attn.project_key_value(memory, packing)
        rows, heads, _, head_dim = cross_key.shape
        buffers = [cross_key.new_empty(rows, heads, CACHE_START, head_dim) for _ in range(2)]
        return LayerCache(*buffers, 0, cross_key, cross_value)

    def forward_step(
        self,
        x: Tensor,
        cache: LayerCache,
        memory_keep_mask: Tensor | None,
        need_weights: bool = False,
    ) -> tuple[Tensor, LayerCache, Tensor | None]:
        """One new position. x: [rows, 1, d]. Returns x, the grown cache, cross weights
        [rows, heads, 1, src_len] (if asked).

        The new query may see every cached position (all are earlier), so the causal
        mask is implicit: no mask is needed for self-attention. The cross-attention
        cache holds one row per source sentence; rows = sources * group, and row r
        reads source r // group.
        """
        grown: dict[str, LayerCache] = {}

        def self_attention(h: Tensor) -> tuple[Tensor, None]:
            query, key, value = self.self_attn.project_self(h)  # each [rows, heads, 1, hd]
            grown["cache"] = new = cache.append(key, value)  # keys: [rows, heads, t, hd]
            return self.self_attn.attend(query, new.self_key, new.self_value)[0], None

        def cross_attention(h: Tensor) -> tuple[Tensor, Tensor | None]:
            rows, _, d_model = h.shape
            sources = cache.cross_key.shape[0]
            # The `group` rows (beams) of one sentence become `group` query positions
            # against that sentence's keys: no copy of K/V per beam.
            query = self.cross_attn.project_query(h.reshape(sources, -1, d_model))
            # query: [sources, heads, group, hd]
            out, weights = self.cross_attn.attend(
                query, cache.cross_key, cache.cross_value, memory_keep_mask, need_weights
            )  # out: [sources, group, d]; weights: [sources, heads, group, src_len]
            if weights is not None:
                weights = weights.transpose(1, 2).reshape(rows, -1, 1, weights.shape[-1])
            return out.reshape(rows, 1, d_model), weights

        x, _ = self.self_block(x, self_attention)
        x, weights = self.cross_block(x, cross_attention)
        x, _ = self.ff_block(x, lambda h: (self.feed_forward(h), None))
        return x, grown["cache"], weights


# --- stacks -------------------------------------------------------------------------------


class Encoder(nn.Module):
    """N encoder layers, then an optional final layer norm (needed for pre-norm)."""

    def __init__(self, config: LayerConfig, num_layers: int, final_norm: bool):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(num_layers))
        eps, bias = config.layer_norm_eps, config.bias
        self.norm = _layer_norm(config.d_model, eps, bias) if final_norm else None

    def forward(
        self, x: Tensor, keep_mask: Tensor | None = None, packing: Packing | None = None
    ) -> Tensor:
        for layer in self.layers:
            x = layer(x, keep_mask, packing)
        return self.norm(x) if self.norm is not None else x


class Decoder(nn.Module):
    """N decoder layers, then an optional final layer norm (needed for pre-norm)."""

    def __init__(self, config: LayerConfig, num_layers: int, final_norm: bool):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(num_layers))
        eps, bias = config.layer_norm_eps, config.bias
        self.norm = _layer_norm(config.d_model, eps, bias) if final_norm else None

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_keep_mask: Tensor | None = None,
        memory_keep_mask: Tensor | None = None,
        self_is_causal: bool = False,
        need_weights: bool = False,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Returns x [batch, tgt_len, d] and per-layer cross weights (empty unless asked)."""
        maps = []
        for layer in self.layers:
            x, weights = layer(
                x, memory, self_keep_mask, memory_keep_mask, self_is_causal, need_weights,
                packing, memory_packing,
            )  # fmt: skip
            if weights is not None:
                maps.append(weights)
        return self._final(x), maps

    def forward_step(
        self,
        x: Tensor,
        caches: list[LayerCache],
        memory_keep_mask: Tensor | None,
        need_weights: list[bool],
    ) -> tuple[Tensor, list[LayerCache], list[Tensor | None]]:
        """One position through every layer; need_weights[i] asks layer i for its map.

        x: [rows, 1, d]. Decoding (no autograd, eval mode, CPU float32/64, no maps
        wanted) takes the native path, `forward_step_native`; this is the reference.
        """
        if not any(need_weights) and self._native_step_fits(x, caches):
            return self.forward_step_native(x, caches, memory_keep_mask)
        new_caches, maps = [], []
        for layer, cache, wanted in zip(self.layers, caches, need_weights, strict=True):
            x, cache, weights = layer.forward_step(x, cache, memory_keep_mask, wanted)
            new_caches.append(cache)
            maps.append(weights)
        return self._final(x), new_caches, maps

    def _final(self, x: Tensor) -> Tensor:
        return self.norm(x) if self.norm is not None else x

    def _native_step_fits(self, x: Tensor, caches: list[LayerCache]) -> bool:
        # One weight stands for all (a model of mixed dtypes fails on either path).
        return (
            len({cache.length for cache in caches}) == 1
            and not self.training
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.dtype in native.DTYPES
            and self.layers[0].self_attn.in_proj_weight.dtype == x.dtype
            and self.layers[0].self_attn.in_proj_weight.device == x.device
            and native.extension_or_none() is not None
        )

    def _step_parameters(self, x: Tensor) -> list[Tensor | None]:
        """Every layer's parameters for decoder_step.cpp (see `_layer_step_parameters`).

        Gathering them costs ~250 us, a few percent of a step, so inside a
        `packed_weights()` block the list is gathered once and reused for as
        long as no parameter has been written (their `_version`s are unchanged).
        """
        memo = block_memo()
        if memo is None:
            return [p for layer in self.layers for p in _layer_step_parameters(layer, x)]
        key = ("decoder_step", id(self), x.dtype)
        hit = memo.get(key)
        if hit is not None:
            owner, sources, versions, params = hit
            if owner is self and versions == tuple(p._version for p in sources):
                return params
        sources = list(self.layers.parameters())
        params = [p for layer in self.layers for p in _layer_step_parameters(layer, x)]
        memo[key] = (self, sources, tuple(p._version for p in sources), params)
        return params

    def forward_step_native(
        self, x: Tensor, caches: list[LayerCache], memory_keep_mask: Tensor | None
    ) -> tuple[Tensor, list[LayerCache], list[Tensor | None]]:
        """`forward_step` in one native call (decoder_step.cpp): the same layers, the
        same kernels, without ~100 Python-level torch calls per layer.

        Only for inference (eval mode, no autograd); returns no attention maps.
        Raises `native.NativeBuildError` where the extension cannot be built.
        """
        native.extension()  # loaded (registers torch.ops.mlnotebook), built if need be
        rows, _, d_model = x.shape
        x_rows = x.reshape(rows, d_model)
        ready = [cache.make_room() for cache in caches]
        first = self.layers[0]
        out = torch.ops.mlnotebook.decoder_step(
            x_rows,
            self._step_parameters(x_rows),
            [cache.key_buffer for cache in ready],
            [cache.value_buffer for cache in ready],
            [cache.cross_key for cache in ready],
            [cache.cross_value for cache in ready],
            memory_keep_mask,
            ready[0].length,
            first.self_attn.num_heads,
            first.self_block.norm_first,
            first.feed_forward.activation_name,
            first.self_block.norm.eps,
        )  # [rows, d]
        new_caches = [cache.written() for cache in ready]
        return self._final(out.view(rows, 1, d_model)), new_caches, [None] * len(ready)


def _layer_step_parameters(layer: DecoderLayer, x: Tensor) -> list[Tensor | None]:
    """One layer's 18 parameters in decoder_step.cpp's order; each matrix as `linear`
    would multiply by it (its packed copy inside `packed_weights()`)."""
    d = layer.self_attn.embed_dim
    self_attn, cross_attn, ff = layer.self_attn, layer.cross_attn, layer.feed_forward
    return [
        layer.self_block.norm.weight,
        layer.self_block.norm.bias,
        weight_for(x, self_attn.in_proj_weight),
        self_attn.in_proj_bias,
        weight_for(x, self_attn.out_proj.weight),
        self_attn.out_proj.bias,
        layer.cross_block.norm.weight,
        layer.cross_block.norm.bias,
        weight_for(x, cross_attn.in_proj_weight[:d]),
        cross_attn._bias_rows(0, d),
        weight_for(x, cross_attn.out_proj.weight),
        cross_attn.out_proj.bias,
        layer.ff_block.norm.weight,
        layer.ff_block.norm.bias,
        weight_for(x, ff.linear1.weight),
        ff.linear1.bias,
        weight_for(x, ff.linear2.weight),
        ff.linear2.bias,
    ]


# --- torch.nn.Transformer's counterpart ---------------------------------------------------


def _keep_from_torch_attn_mask(mask: Tensor | None, name: str) -> Tensor | None:
    """torch attn masks: bool True = blocked, or float added to the scores (0 / -inf)."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return ~mask
    blocked = mask == float("-inf")
    if not bool(((mask == 0) | blocked).all()):
        raise ValueError(f"Transformer: float {name} may only hold 0 and -inf values")
    return ~blocked


def _keep_from_torch_padding(mask: Tensor | None, name: str) -> Tensor | None:
    """torch key padding masks: [batch, len], True (or -inf) = padding."""
    if mask is None:
        return None
    keep = _keep_from_torch_attn_mask(mask, name)
    return keep[:, None, None, :]  # [batch, 1, 1, len]: broadcast over heads and queries


# torch's per-layer parameter names -> ours (the attention modules keep their names)
_TORCH_TO_OURS = {
    "encoder": {"norm1.": "attn_block.norm.", "norm2.": "ff_block.norm."},
    "decoder": {
        "multihead_attn.": "cross_attn.",
        "norm1.": "self_block.norm.",
        "norm2.": "cross_block.norm.",
        "norm3.": "ff_block.norm.",
    },
}


def _rename_torch_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    renamed = {}
    for name, tensor in state.items():
        stack, _, rest = name.partition(".")  # "encoder", "layers.0.norm1.weight"
        if rest.startswith("layers."):
            _, index, local = rest.split(".", 2)
            for old, new in _TORCH_TO_OURS[stack].items():
                if local.startswith(old):
                    local = new + local[len(old) :]
            if local.startswith(("linear1.", "linear2.")):
                local = "feed_forward." + local
            rest = f"layers.{index}.{local}"
        renamed[f"{stack}.{rest}"] = tensor
    return renamed


def _activation_name(activation: object) -> str:
    """torch layers keep F.relu / F.gelu or a module; we keep its name."""
    if activation is F.relu or isinstance(activation, nn.ReLU):
        return "relu"
    gelu_module = isinstance(activation, nn.GELU) and activation.approximate == "none"
    if activation is F.gelu or gelu_module:
        return "gelu"
    raise ValueError(f"Transformer.from_torch: unsupported activation {activation!r}")


class Transformer(nn.Module):
    """Encoder-decoder stack with `torch.nn.Transformer`'s structure and call signature.

    As in torch, both stacks end with a layer norm (`final_norm=True`) whatever
    `norm_first` is; for the paper's post-norm model that norm is redundant but
    harmless, and `TransformerSeq2Seq` leaves it out there.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        final_norm: bool = True,
    ):
        super().__init__()
        config = LayerConfig(
            d_model, nhead, dim_feedforward, dropout, activation, norm_first, layer_norm_eps, bias
        )
        self.config = config
        self.batch_first = batch_first
        self.encoder = Encoder(config, num_encoder_layers, final_norm)
        self.decoder = Decoder(config, num_decoder_layers, final_norm)
        for parameter in self.parameters():
            # torch.nn.Transformer's initialisation: Xavier-uniform for every matrix
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    @classmethod
    def from_torch(cls, module: nn.Transformer) -> Transformer:
        """Our Transformer holding a copy of `module`'s weights (and its settings)."""
        enc_layer = module.encoder.layers[0]
        ours = cls(
            d_model=module.d_model,
            nhead=module.nhead,
            num_encoder_layers=len(module.encoder.layers),
            num_decoder_layers=len(module.decoder.layers),
            dim_feedforward=enc_layer.linear1.out_features,
            dropout=enc_layer.dropout.p,
            activation=_activation_name(enc_layer.activation),
            layer_norm_eps=enc_layer.norm1.eps,
            batch_first=module.batch_first,
            norm_first=enc_layer.norm_first,
            bias=enc_layer.linear1.bias is not None,
            final_norm=module.encoder.norm is not None,
        )
        ours.to(enc_layer.linear1.weight.device, enc_layer.linear1.weight.dtype)
        ours.load_state_dict(_rename_torch_state(module.state_dict()))
        return ours

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Same arguments and mask conventions as `torch.nn.Transformer.forward`.

        src: [batch, src_len, d] ([src_len, batch, d] unless batch_first); likewise tgt.
        Returns the decoder output shaped like tgt.
        """
        if not self.batch_first:
            src, tgt = src.transpose(0, 1), tgt.transpose(0, 1)
        src_keep = combine_keep_masks(
            _keep_from_torch_attn_mask(src_mask, "src_mask"),
            _keep_from_torch_padding(src_key_padding_mask, "src_key_padding_mask"),
        )
        tgt_keep = combine_keep_masks(
            _keep_from_torch_attn_mask(tgt_mask, "tgt_mask"),
            _keep_from_torch_padding(tgt_key_padding_mask, "tgt_key_padding_mask"),
        )
        memory_keep = combine_keep_masks(
            _keep_from_torch_attn_mask(memory_mask, "memory_mask"),
            _keep_from_torch_padding(memory_key_padding_mask, "memory_key_padding_mask"),
        )
        memory = self.encoder(src, src_keep)  # [batch, src_len, d]
        out, _ = self.decoder(tgt, memory, tgt_keep, memory_keep)  # [batch, tgt_len, d]
        return out if self.batch_first else out.transpose(0, 1)


# --- the translation model ----------------------------------------------------------------


def output_loss_sums(
    hidden: Tensor, weight: Tensor, target: Tensor, pad_id: int, label_smoothing: float
) -> tuple[Tensor, Tensor]:
    """Output layer and loss, summed over the non-pad targets: hidden [tokens, d] ->
    (label-smoothed loss sum, negative log-likelihood sum; the second without gradient).

    With p = softmax(h E^T) and eps = label_smoothing, per token
    loss = (1 - eps) (-log p(y)) + eps (-(1/V) sum_v log p(v)),
    as F.cross_entropy(..., label_smoothing=eps) computes it.
    """
    log_probs = F.log_softmax(hidden @ weight.t(), dim=-1)  # [tokens, V]
    keep = (target != pad_id).to(log_probs.dtype)  # [tokens] 1 = real target
    index = target.clamp(min=0).unsqueeze(1)  # [tokens, 1] (pad ids may be negative)
    nll = -log_probs.gather(1, index).squeeze(1)  # [tokens]  -log p(y)
    uniform = -log_probs.mean(dim=-1)  # [tokens]  -(1/V) sum_v log p(v)
    smoothed = (1.0 - label_smoothing) * nll + label_smoothing * uniform  # [tokens]
    return (smoothed * keep).sum(), (nll.detach() * keep).sum()


_COMPILED_OUTPUT_LOSS: list[Callable[..., tuple[Tensor, Tensor]]] = []


def compiled_output_loss_sums() -> Callable[..., tuple[Tensor, Tensor]]:
    """`output_loss_sums` through torch.compile, built on first use (dynamic in `tokens`).

    Fusing the softmax, the smoothing sum and their backward into one pass over the
    [tokens, V] logits saves several trips through memory; it compiles in seconds.
    """
    if not _COMPILED_OUTPUT_LOSS:
        _COMPILED_OUTPUT_LOSS.append(torch.compile(output_loss_sums, dynamic=True))
    return _COMPILED_OUTPUT_LOSS[0]


@dataclass
class TransformerState:
    """What `TransformerSeq2Seq.decode_step` carries from one step to the next.

    Decoded sequences ("rows", e.g. the beams of beam search) and source sentences
    are counted apart: rows = sources * group, row r translates source r // group.
    What comes from the source is stored once per source sentence, so the beams of
    a sentence share it instead of each holding (and reordering) a copy:

    memory: [sources, src_len, d]; memory_keep_mask: [sources, 1, 1, src_len];
    prefix: [rows, steps] tokens fed so far (used by the uncached path);
    caches: one `LayerCache` per decoder layer (self-attention per row,
    cross-attention per source);
    group: rows per source sentence;
    attention_maps: after a step with record_attention, per layer the cross-attention
    weights of the new position, [rows, heads, src_len];
    with_attention: whether decode_step returns the last layer's weights (computing
    them costs the fused attention kernel its place in that layer).
    """

    memory: Tensor
    memory_keep_mask: Tensor
    prefix: Tensor
    caches: list[LayerCache]
    record_attention: bool = False
    attention_maps: list[Tensor] = field(default_factory=list)
    group: int = 1
    with_attention: bool = True

    def index_select(self, index: Tensor) -> TransformerState:
        """Rows `index` [new_rows] of this state, as if every tensor were indexed by row.

        Row r of the result reads source index[r] // group. When those sources come
        in equal runs (the beams of a sentence stay together, as in beam search),
        each source is kept once and only the per-row tensors are copied; otherwise
        every row gets its own copy of its source.
        """
        source_of_row = torch.div(index, self.group, rounding_mode="floor")  # [new_rows]
        sources, group = _equal_runs(source_of_row)
        rows_state = replace(
            self,
            prefix=self.prefix.index_select(0, index),
            caches=[cache.select_rows(index) for cache in self.caches],
            attention_maps=[m.index_select(0, index) for m in self.attention_maps],
            group=group,
        )
        return rows_state._select_sources(sources)

    def _select_sources(self, sources: Tensor) -> TransformerState:
        """Keep source sentences `sources` (copying nothing when that is all, in order)."""
        if sources.numel() == self.memory.shape[0] and bool(
            (sources == torch.arange(sources.numel(), device=sources.device)).all()
        ):
            return self
        return replace(
            self,
            memory=self.memory.index_select(0, sources),
            memory_keep_mask=self.memory_keep_mask.index_select(0, sources),
            caches=[cache.select_sources(sources) for cache in self.caches],
        )

    def memory_per_row(self) -> tuple[Tensor, Tensor]:
        """memory [rows, src_len, d] and its keep mask [rows, 1, 1, src_len], one per row."""
        return (
            self.memory.repeat_interleave(self.group, dim=0),
            self.memory_keep_mask.repeat_interleave(self.group, dim=0),
        )


def _equal_runs(values: Tensor) -> tuple[Tensor, int]:
    """Split `values` [n] into runs of one repeated value: (the runs' values, run length)
    when every run has the same length, else (values, 1): [0,0,2,2] -> ([0,2], 2)."""
    run_values, run_lengths = torch.unique_consecutive(values, return_counts=True)
    if values.numel() > 0 and bool((run_lengths == run_lengths[0]).all()):
        return run_values, int(run_lengths[0])
    return values, 1


class TransformerSeq2Seq(nn.Module):
    """Transformer translation model: embeddings, positions, encoder-decoder, output layer.

    Token embeddings are multiplied by sqrt(d_model) before the positional encoding
    is added (section 3.4), so that the two have comparable scale. With a joint
    source/target vocabulary, `share_embeddings=True` uses one matrix for source
    embeddings, target embeddings and the output projection (logits = x E^T);
    otherwise `tie_output` ties just the target embedding and the output.
    `compile_loss` runs the output layer and loss of `loss` through torch.compile.

    Training (`forward`) runs the decoder's self-attention with the causal mask
    only: target padding sits at the end of each row, after every real token, so
    the causal mask already hides it from every real position. The outputs at
    padded positions are meaningless and must be ignored by the loss (pad_id as
    ignore_index). Source padding is masked in the encoder and the cross-attention.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        d_model: int = 512,
        num_heads: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        share_embeddings: bool = False,
        tie_output: bool = True,
        max_len: int = 1024,
        compile_loss: bool = False,
    ):
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"TransformerSeq2Seq: share_embeddings needs one joint vocabulary, got "
                f"src_vocab_size={src_vocab_size} and tgt_vocab_size={tgt_vocab_size}"
            )
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.d_model = d_model
        self.compile_loss = compile_loss
        config = LayerConfig(d_model, num_heads, d_ff, dropout, activation, norm_first)
        # The final norm is only needed (and only used) with pre-norm layers.
        self.encoder = Encoder(config, num_encoder_layers, final_norm=norm_first)
        self.decoder = Decoder(config, num_decoder_layers, final_norm=norm_first)
        self.positional_encoding = PositionalEncoding(d_model, max_len, dropout)
        self.tgt_embedding = self._embedding(tgt_vocab_size)
        share = share_embeddings
        self.src_embedding = self.tgt_embedding if share else self._embedding(src_vocab_size)
        self.output_projection = nn.Linear(d_model, tgt_vocab_size, bias=False)
        if share_embeddings or tie_output:
            self.output_projection.weight = self.tgt_embedding.weight
        self._init_layers()

    def _embedding(self, vocab_size: int) -> nn.Embedding:
        embedding = nn.Embedding(vocab_size, self.d_model, padding_idx=self.pad_id)
        # N(0, 1/d): after the sqrt(d) scale the embeddings have unit variance
        nn.init.normal_(embedding.weight, std=self.d_model**-0.5)
        with torch.no_grad():
            embedding.weight[self.pad_id].zero_()
        return embedding

    def _init_layers(self) -> None:
        for stack in (self.encoder, self.decoder):
            for parameter in stack.parameters():
                if parameter.dim() > 1:
                    nn.init.xavier_uniform_(parameter)

    # --- pieces shared by the training and decoding paths -----------------------------------

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        # x = sqrt(d) E[token] + PE[pos]; tokens: [batch, len] -> [batch, len, d]
        return self.positional_encoding(embedding(tokens) * self.d_model**0.5, offset)

    def _encode_memory(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src: [batch, src_len] -> memory [batch, src_len, d], keep mask [batch, 1, 1, src_len]."""
        keep = keep_mask_from_padding(src == self.pad_id)
        return self.encoder(self._embed(self.src_embedding, src), keep), keep

    def decode_all(
        self, src: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor]]:
        """Teacher forcing up to the decoder output: hidden [batch, tgt_len, d], cross maps."""
        memory, memory_keep = self._encode_memory(src)
        x = self._embed(self.tgt_embedding, tgt_in)  # [batch, tgt_len, d]
        return self.decoder(
            x, memory, None, memory_keep, self_is_causal=True, need_weights=need_weights
        )

    def forward(
        self, src: Tensor, tgt_in: Tensor, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Teacher forcing: src [batch, src_len], tgt_in [batch, tgt_len] -> logits [b, t, V].

        With return_attention, also the cross-attention maps, per layer
        [batch, heads, tgt_len, src_len].
        """
        hidden, maps = self.decode_all(src, tgt_in, need_weights=return_attention)
        logits = self.output_projection(hidden)  # [batch, tgt_len, V]
        return (logits, maps) if return_attention else logits

    def loss(
        self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0
    ) -> Tensor:
        """Mean cross-entropy over the real (non-pad) target tokens; the training fast path.

        Equal to cross_entropy(forward(src, tgt_in), tgt_out, ignore_index=pad_id), but
        every position-wise computation (projections, feed-forward, layer norms, the
        output layer and the softmax) runs on the real tokens only, not the padding.
        """
        smoothed, _, tokens = self.loss_sums(src, tgt_in, tgt_out, label_smoothing)
        return smoothed / tokens.clamp(min=1)

    def loss_sums(
        self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """What the trainer needs from a batch, on the fast path of `loss`: the summed
        label-smoothed loss, the summed NLL (no gradient) and the count of real targets.
        """
        hidden, target = self.decode_packed(src, tgt_in, tgt_out)  # [tokens, d], [tokens]
        loss_fn = compiled_output_loss_sums() if self.compile_loss else output_loss_sums
        weight = self.output_projection.weight  # [V, d]
        smoothed, nll = loss_fn(hidden, weight, target, self.pad_id, label_smoothing)
        return smoothed, nll, (target != self.pad_id).sum()

    def decode_packed(self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing on real tokens only (see `Packing`): decoder output [tokens, d]
        at the non-pad positions of tgt_in, and the matching targets [tokens].

        Padding must sit at the end of each row (as `forward` also assumes).
        """
        src_packing = Packing.from_keep(src != self.pad_id)
        tgt_packing = Packing.from_keep(tgt_in != self.pad_id)
        memory_keep = keep_mask_from_padding(src == self.pad_id)  # [batch, 1, 1, src_len]
        src_x = src_packing.pack(self._embed(self.src_embedding, src))  # [src tokens, d]
        memory = self.encoder(src_x, memory_keep, src_packing)  # [src tokens, d]
        tgt_x = tgt_packing.pack(self._embed(self.tgt_embedding, tgt_in))  # [tgt tokens, d]
        hidden, _ = self.decoder(
            tgt_x, memory, None, memory_keep, self_is_causal=True,
            packing=tgt_packing, memory_packing=src_packing,
        )  # fmt: skip
        return hidden, tgt_packing.pack(tgt_out)

    # --- incremental decoding ---------------------------------------------------------------

    def encode(
        self, src: Tensor, with_attention: bool = True, record_attention: bool = False
    ) -> TransformerState:
        """Run the encoder once and prepare every layer's cross-attention keys/values.

        with_attention=False: decode_step returns None for the attention. With
        record_attention, each decode_step stores every layer's per-head
        cross-attention weights in `state.attention_maps`.
        """
        # Only the real tokens go through the encoder and the cross-attention K/V
        # projections (see `Packing`): a batch of sorted sentences is still about a
        # third padding, half in a batch with one long sentence. The memory is zero
        # at the padding, which every attention masks.
        keep = src != self.pad_id  # [sources, src_len]
        packing = Packing.from_keep(keep)
        memory_keep = keep_mask_from_padding(~keep)  # [sources, 1, 1, src_len]
        tokens = packing.pack(self._embed(self.src_embedding, src))  # [tokens, d]
        tokens = self.encoder(tokens, memory_keep, packing)
        memory = packing.unpack(tokens)  # [sources, src_len, d]
        caches = [layer.start_cache(tokens, packing) for layer in self.decoder.layers]
        prefix = src.new_empty(src.shape[0], 0)
        return TransformerState(
            memory, memory_keep, prefix, caches, record_attention,
            with_attention=with_attention or record_attention,
        )  # fmt: skip

    def decode_step(
        self, state: TransformerState, prev_tokens: Tensor, use_cache: bool = True
    ) -> tuple[Tensor, TransformerState, Tensor | None]:
        """prev_tokens [batch] -> log-probs [batch, V], new state, attention [batch, src_len].

        The attention returned is the last layer's cross-attention, heads averaged
        (None if the state was encoded with with_attention=False).
        use_cache=False re-runs the decoder over the whole prefix (the reference path).
        """
        prefix = torch.cat([state.prefix, prev_tokens[:, None]], dim=1)  # [batch, steps]
        if use_cache:
            x, caches, maps = self._step_cached(state, prev_tokens)
        else:
            x, maps = self._step_uncached(state, prefix)
            caches = state.caches
        logits = linear(x[:, -1], self.output_projection.weight)  # [b, V]
        log_probs = F.log_softmax(logits.float(), dim=-1)
        kept_maps = maps if state.record_attention else []
        new_state = replace(state, prefix=prefix, caches=caches, attention_maps=kept_maps)
        attention = maps[-1].mean(dim=1) if state.with_attention else None
        return log_probs, new_state, attention

    def decode_step_uncached(
        self, state: TransformerState, prev_tokens: Tensor
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """`decode_step` without the cache: O(steps) work per step; kept as the reference."""
        return self.decode_step(state, prev_tokens, use_cache=False)

    def _step_cached(
        self, state: TransformerState, prev_tokens: Tensor
    ) -> tuple[Tensor, list[LayerCache], list[Tensor]]:
        """Only the new position goes through the decoder; maps [batch, heads, src_len]."""
        x = self._embed(self.tgt_embedding, prev_tokens[:, None], offset=state.prefix.shape[1])
        num_layers = len(self.decoder.layers)
        last = num_layers - 1
        wanted = [
            state.record_attention or (i == last and state.with_attention)
            for i in range(num_layers)
        ]
        x, caches, maps = self.decoder.forward_step(x, state.caches, state.memory_keep_mask, wanted)
        return x, caches, [m[:, :, -1] for m in maps if m is not None]

    def _step_uncached(
        self, state: TransformerState, prefix: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """The whole prefix through the decoder again; maps of its last position."""
        x = self._embed(self.tgt_embedding, prefix)  # [batch, steps, d]
        memory, memory_keep = state.memory_per_row()
        x, maps = self.decoder(x, memory, None, memory_keep, self_is_causal=True, need_weights=True)
        return x, [m[:, :, -1] for m in maps]

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        """Select/repeat batch rows (beam search): index [new_batch] into the rows."""
        return state.index_select(index)
