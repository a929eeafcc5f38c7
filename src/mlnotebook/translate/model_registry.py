"""Model families by name, and building one for a given vocabulary.

The config names a family (`seq2seq`, `luong`, `bahdanau`, `transformer`) or,
for a model of your own, `package.module:Class`. Every family implements the
interface in `mlnotebook/nn/SEQ2SEQ_API.md`, so the trainer and the searches
never look inside. The arguments that depend on the data (vocabulary size and
the special token ids) are filled in here from the tokenizer; the config
supplies the rest and may not set these.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from torch import nn

from mlnotebook.errors import UserError

MODEL_FAMILIES = {
    "seq2seq": "mlnotebook.nn.rnn_seq2seq:Seq2Seq",
    "luong": "mlnotebook.nn.rnn_seq2seq:LuongSeq2Seq",
    "bahdanau": "mlnotebook.nn.rnn_seq2seq:BahdanauSeq2Seq",
    "transformer": "mlnotebook.nn.transformer:TransformerSeq2Seq",
}

# Constructor arguments that come from the tokenizer, never from the config.
MODEL_BUILT_ARGS = {
    "vocab",
    "vocab_size",
    "src_vocab_size",
    "tgt_vocab_size",
    "pad_id",
    "bos_id",
    "eos_id",
    "unk_id",
}


@dataclass(frozen=True)
class VocabInfo:
    """What a model needs to know about the vocabulary (shared source/target)."""

    size: int
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    # Aliases so a model may read `vocab.vocab_size` or `vocab.pad_id` alike.
    @property
    def vocab_size(self) -> int:
        return self.size


def resolve_model_class(family: str) -> type[nn.Module]:
    """Import the class for `family`; a clear UserError if it is unknown or missing."""
    target = MODEL_FAMILIES.get(family, family)
    if ":" not in target:
        known = ", ".join(MODEL_FAMILIES)
        raise UserError(f"unknown model family {family!r} (known: {known}, or module:Class)")
    module_name, class_name = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(f"model family {family!r}: cannot import {module_name} ({exc})") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UserError(f"model family {family!r}: {module_name} has no nn.Module {class_name}")
    return cls


def build_model(family: str, params: dict[str, Any], vocab: VocabInfo) -> nn.Module:
    """Instantiate the family with the config's params plus the data-derived arguments."""
    cls = resolve_model_class(family)
    accepted = inspect.signature(cls).parameters
    data_args = {
        "vocab": vocab,
        "vocab_size": vocab.size,
        "src_vocab_size": vocab.size,
        "tgt_vocab_size": vocab.size,
        "pad_id": vocab.pad_id,
        "bos_id": vocab.bos_id,
        "eos_id": vocab.eos_id,
        "unk_id": vocab.unk_id,
    }
    kwargs = {k: v for k, v in data_args.items() if k in accepted}
    try:
        model = cls(**kwargs, **params)
    except (TypeError, ValueError) as exc:
        raise UserError(f"model family {family!r}: cannot build with {params}: {exc}") from None
    for name in ("pad_id", "bos_id", "eos_id"):
        if getattr(model, name, None) != getattr(vocab, name):
            raise UserError(
                f"model family {family!r}: {name} is {getattr(model, name, None)}, "
                f"tokenizer says {getattr(vocab, name)}"
            )
    return model
