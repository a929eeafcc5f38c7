"""Pre-packed weights: the same y = x W^T + b, laid out once for the CPU's matrix multiply.

A decoder step multiplies a few rows (one per sentence or beam still decoding)
by every weight matrix of the model. With so few rows the cost is not the
arithmetic but the multiply routine reading the weight and re-arranging it into
the blocked layout its inner loop wants, and it does that again at every call.
oneDNN can do the re-arranging once (`_reorder_linear_weight`) and then multiply
any number of rows against the packed copy (`_linear_pointwise`).

Measured on this project's machine (AMD EPYC, 2 threads): the 19 weight
matrices of one step of the shipped Transformer took 6.0 ms with `F.linear`
(which calls MKL's sgemm; MKL is not at its best on AMD) and 4.2 ms packed at
32 rows, 4.3 against 2.6 ms at 8 rows. Whole passes of
benchmarks/decode_speed.py's searches, each variant in its own process: greedy
78 against 56 sentences/s, beam 5 32.5 against 28.5; this machine's speed drifts
by as much between minutes, so see the README for the in-process comparison.
Packing all of them takes about 14 ms.

Packing only makes sense while the weights stand still, so it is scoped:
inside `with packed_weights():`, `linear` packs each weight the first time it
sees it and reuses the packed copy until the block ends (nested blocks share
the outer block's copies). It applies only to CPU float32 work with autograd
off; anywhere else, and outside the block, `linear` is `F.linear`. The results
equal `F.linear`'s to float32 rounding (the sums run in another order), not bit
for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# The packed copies of the open block, keyed by the weight's storage and layout; None
# outside any block.
_PACKED: ContextVar[dict[tuple, Any] | None] = ContextVar("packed_weights", default=None)


def available() -> bool:
    """Whether this torch build has oneDNN (the CPU builds on x86 and ARM do)."""
    return torch.backends.mkldnn.is_available()


@contextmanager
def packed_weights() -> Iterator[None]:
    """Let `linear` use packed weights until the block ends. The weights passed to
    `linear` inside must not change while the block is open (decoding, not training).
    """
    if _PACKED.get() is not None or not available():
        yield  # nested (the outer block's copies serve), or nothing to pack with
        return
    token = _PACKED.set({})
    try:
        yield
    finally:
        _PACKED.reset(token)


def block_memo() -> dict[tuple, Any] | None:
    """A dict that lives as long as the open `packed_weights()` block (None outside
    one), for other things derived from weights that stand still within it. Keys
    must start with a string (the packed copies' keys start with an address)."""
    return _PACKED.get()


def _packable(x: Tensor, weight: Tensor) -> bool:
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and weight.dim() == 2
    )


def _packed_copy(x: Tensor, weight: Tensor) -> Tensor | None:
    """The packed copy of `weight` for multiplying `x`, packed now if new; None
    outside a block or where packing does not apply."""
    packed = _PACKED.get()
    if packed is None or not _packable(x, weight):
        return None
    # The key names the weight's memory and layout; `_version` changes with any
    # in-place write through torch, so a stale copy is never used by mistake.
    key = (weight.data_ptr(), weight.shape, weight.stride(), weight._version)
    copy = packed.get(key)
    if copy is None:
        copy = packed[key] = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), None)
    return copy


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b. x: [..., in], weight: [out, in], bias: [out] -> y: [..., out].

    `F.linear`, except inside `packed_weights()` on CPU float32 with autograd off,
    where the product runs on oneDNN's packed copy of `weight`.
    """
    copy = _packed_copy(x, weight)
    if copy is None:
        return F.linear(x, weight, bias)
    return torch.ops.mkldnn._linear_pointwise.default(x, copy, bias, "none", [], "")


def weight_for(x: Tensor, weight: Tensor) -> Tensor:
    """What `linear(x, weight)` multiplies by: the packed copy (a tensor in oneDNN's
    layout, `is_mkldnn`) where `linear` would use one, else `weight` itself. For
    native code that multiplies the same way (decoder_step.cpp)."""
    copy = _packed_copy(x, weight)
    return weight if copy is None else copy
