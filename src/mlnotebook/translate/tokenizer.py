"""A joint German-French subword vocabulary with sentencepiece.

One sentencepiece model is trained on the German and the French sides of the
training split together, so both languages share one vocabulary (names,
numbers and technical terms are often spelled the same in both, and a shared
vocabulary lets the model copy them). The special ids are fixed, whatever the
data: pad = 0, unk = 1, bos = 2, eos = 3, so models and batching can rely on
them. Characters never seen in training become unk (id 1).

Training is reproducible: we take the sentence sample ourselves with a seeded
generator, pass sentencepiece the seed, and default to one training thread.
The model is one file (`save`/`load`), kept beside the translation model's
checkpoint.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from mlnotebook.errors import UserError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
TOKENIZER_FILENAME = "tokenizer.model"
_SPECIAL_IDS = frozenset({PAD_ID, BOS_ID, EOS_ID})


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 8000  # an upper bound: a small corpus may yield fewer pieces
    model_type: str = "unigram"  # "unigram" or "bpe"
    character_coverage: float = 0.9999  # rarer characters are left to unk
    byte_fallback: bool = False  # True: a character outside the vocabulary becomes its UTF-8 bytes
    max_sentences: int = 200_000  # a seeded sample of this many sentences trains the model
    seed: int = 0
    num_threads: int = 1  # 1 makes training reproducible bit for bit

    def __post_init__(self) -> None:
        if self.model_type not in ("unigram", "bpe"):
            raise ValueError(f"model_type: expected 'unigram' or 'bpe', got {self.model_type!r}")
        if self.vocab_size < 8:
            raise ValueError(f"vocab_size: expected at least 8, got {self.vocab_size}")


def _training_sample(pairs: Iterable[tuple[str, str]], config: TokenizerConfig) -> list[str]:
    """Both sides of every pair, then a seeded sample if there are too many."""
    sentences = [side for pair in pairs for side in pair if side]
    if len(sentences) > config.max_sentences:
        sentences = random.Random(config.seed).sample(sentences, config.max_sentences)
    return sentences


class Tokenizer:
    """Text <-> ids with a fixed pad/unk/bos/eos layout."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, model_proto: bytes) -> None:
        self.model_proto = model_proto
        self._processor = spm.SentencePieceProcessor(model_proto=model_proto)
        expected = {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID}
        actual = {
            "pad": self._processor.pad_id(),
            "unk": self._processor.unk_id(),
            "bos": self._processor.bos_id(),
            "eos": self._processor.eos_id(),
        }
        if actual != expected:
            raise UserError(f"tokenizer special ids are {actual}, expected {expected}")

    @classmethod
    def train(
        cls, pairs: Iterable[tuple[str, str]], config: TokenizerConfig = TokenizerConfig()
    ) -> Tokenizer:
        """Train on the German and French sides of `pairs` (the training split only)."""
        sentences = _training_sample(pairs, config)
        if not sentences:
            raise UserError("cannot train a tokenizer: the training split is empty")
        spm.set_random_generator_seed(config.seed)
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=config.vocab_size,
            model_type=config.model_type,
            character_coverage=config.character_coverage,
            byte_fallback=config.byte_fallback,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            num_threads=config.num_threads,
            input_sentence_size=0,  # we sampled already; use them all, in order
            hard_vocab_limit=False,  # tiny corpora get a smaller vocabulary, not an error
            minloglevel=2,
        )
        return cls(model.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            raise UserError(f"{path}: tokenizer model not found") from None
        except RuntimeError as exc:
            raise UserError(f"{path}: not a sentencepiece model ({exc})") from None

    def save(self, path: str | Path) -> Path:
        """Write the model file atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as stream:
            stream.write(self.model_proto)
        os.replace(temporary, path)
        return path

    @staticmethod
    def path_beside(model_path: str | Path) -> Path:
        """Where the tokenizer of the model saved at `model_path` lives."""
        return Path(model_path).parent / TOKENIZER_FILENAME

    @property
    def vocab_size(self) -> int:
        return self._processor.vocab_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each text, without bos/eos (batching adds those)."""
        return self._processor.encode(list(texts), out_type=int)

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Text of each id sequence; pad, bos and eos are ignored."""
        return self._processor.decode(
            [[int(i) for i in seq if int(i) not in _SPECIAL_IDS] for seq in ids]
        )

    def pieces(self, text: str) -> list[str]:
        return self._processor.encode(text, out_type=str)
