"""From a config to what the trainer eats: splits, tokenizer, token batches, validation set.

This is glue between the data pipeline (`user_data`, `tokenizer`, `batching`)
and the trainer, kept in one place so the trainer never sees text. Sources
are encoded without BOS/EOS (the batching adds BOS/EOS to targets only), and
`encode_source` is the same function translation uses at inference, so the
model sees sources the same way in training and in use.

Sentences longer than `data.max_src_len` / `data.max_tgt_len` subwords are
cut to that length, not dropped; the number cut is reported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mlnotebook.translate.batching import TokenBatches
from mlnotebook.translate.config import Config
from mlnotebook.translate.tokenizer import Tokenizer, TokenizerConfig
from mlnotebook.translate.trainer import ValidationData
from mlnotebook.translate.user_data import ParallelCorpus, load_corpus

Pair = tuple[str, str]


def load_splits(config: Config) -> ParallelCorpus:
    """The corpus named by data.corpus, split into train/valid/test."""
    spec = config.data.corpus
    corpus = load_corpus(tuple(spec) if isinstance(spec, list) else spec)
    if not corpus.train:
        raise ValueError(f"data.corpus={spec!r}: the training split is empty")
    return corpus


def make_tokenizer(config: Config, train_pairs: Sequence[Pair]) -> Tokenizer:
    """Reuse data.tokenizer when given, else train one on the training split."""
    if config.data.tokenizer:
        return Tokenizer.load(Path(config.data.tokenizer))
    tokenizer_config = TokenizerConfig(vocab_size=config.data.vocab_size, seed=config.train.seed)
    return Tokenizer.train(train_pairs, tokenizer_config)


def encode_source(tokenizer: Tokenizer, text: str) -> list[int]:
    """Source subword ids as the model reads them: no BOS, no EOS."""
    return tokenizer.encode([text])[0]


def encode_pairs(
    config: Config, tokenizer: Tokenizer, pairs: Sequence[Pair], split: str
) -> list[tuple[list[int], list[int]]]:
    """(source ids, target ids) per pair, each side cut to its maximum length."""
    sources = tokenizer.encode([de for de, _ in pairs])
    targets = tokenizer.encode([fr for _, fr in pairs])
    max_src, max_tgt = config.data.max_src_len, config.data.max_tgt_len
    cut = sum(
        1 for s, t in zip(sources, targets, strict=True) if len(s) > max_src or len(t) > max_tgt
    )
    if cut:
        print(
            f"note: {cut} of {len(pairs)} {split} pairs were cut to "
            f"data.max_src_len={max_src} / data.max_tgt_len={max_tgt} subwords",
            file=sys.stderr,
        )
    return [(s[:max_src], t[:max_tgt]) for s, t in zip(sources, targets, strict=True)]


def training_batches(config: Config, tokenizer: Tokenizer, pairs: Sequence[Pair]) -> TokenBatches:
    """Global token batches per epoch, in an order fixed by (train.seed, epoch)."""
    examples = encode_pairs(config, tokenizer, pairs, "train")
    return TokenBatches(
        examples,
        max_tokens=config.data.batch_tokens,
        seed=config.train.seed,
        pad_id=tokenizer.pad_id,
        bos_id=tokenizer.bos_id,
        eos_id=tokenizer.eos_id,
    )


def validation_data(
    config: Config, tokenizer: Tokenizer, pairs: Sequence[Pair]
) -> ValidationData | None:
    """Validation batches (for loss) and the first `bleu_sentences` pairs (for BLEU)."""
    if not pairs:
        print(
            "note: the validation split is empty; no validation or early stopping", file=sys.stderr
        )
        return None
    examples = encode_pairs(config, tokenizer, pairs, "valid")
    ids = {"pad_id": tokenizer.pad_id, "bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id}
    batches = list(TokenBatches(examples, config.data.batch_tokens, seed=0, **ids).epoch_batches(0))
    sample = min(config.train.bleu_sentences, len(pairs))
    return ValidationData(
        batches=batches,
        bleu_sources=[source for source, _ in examples[:sample]],
        bleu_references=[fr for _, fr in pairs[:sample]],
        decode=lambda ids: tokenizer.decode([ids])[0],
    )
