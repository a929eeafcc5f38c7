"""Do subwords leave no word unknown? Unseen words, each unknown traced to its cause.

A word vocabulary knows only the words it was built from: every word of the test text
that the training text lacks is "unknown". A subword vocabulary (sentencepiece, as the
translation models use) spells an unseen word from known pieces, and can only fail
where a *character* of the word is outside its vocabulary: sentencepiece keeps the
characters that cover `character_coverage` of the training text and maps the rest to
unk, unless byte fall-back is on, which spells such a character as its UTF-8 bytes.

Measured on the German side: the words of the test text not seen in the training text
(split on white space, punctuation stripped), and for each vocabulary the share of those
words whose pieces contain unk, with every unknown word put down to its cause:
`character` (it holds a character outside the vocabulary) or `other`.

- Full mode: the default Debian corpus (training split against the test split) with
  the tokenizer settings the translation models use (8k pieces, coverage 0.9999).
  The corpus must have been fetched (`mlnb data fetch`).
- Quick mode: a small built-in German text of compounds; its test words use letters the
  training text lacks, so it shows the character cause in seconds.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

from mlnotebook.translate.tokenizer import UNK_ID, Tokenizer, TokenizerConfig

_STEMS = ("haus", "garten", "kind", "wagen", "stadt", "land", "baum", "tisch", "buch", "weg")
_PARTS = ("", "es", "er", "chen", "tür", "fenster", "dach", "bahn")
_FRAMES = ("das {} ist groß", "wir sehen das {}", "im {} ist es ruhig", "ein {} und noch ein {}")
_STRIP = string.punctuation + "«»„“”‚‘’…–—"


def words_of(sentences: Sequence[str]) -> list[str]:
    """White-space words with surrounding punctuation removed; empty ones dropped."""
    words = (w.strip(_STRIP) for s in sentences for w in s.split())
    return [w for w in words if w]


def toy_text() -> tuple[list[str], list[str]]:
    """(training sentences, test words): compounds whose second part is never seen whole."""
    train_parts, test_parts = _PARTS[:5], _PARTS[5:]
    train_words = [stem + part for stem in _STEMS for part in train_parts]
    rng = random.Random(0)
    sentences = [rng.choice(_FRAMES).format(w, rng.choice(train_words)) for w in train_words * 4]
    test_words = [stem + part for stem in _STEMS for part in test_parts]
    test_words += [part + stem for part in test_parts[1:] for stem in _STEMS[:3]]
    return sentences, test_words


def corpus_text() -> tuple[list[str], list[str]]:
    """(German training sentences, German test words) of the default corpus."""
    from mlnotebook.translate.user_data import load_corpus

    corpus = load_corpus("default")
    return [de for de, _ in corpus.train], words_of([de for de, _ in corpus.test])


def vocabulary_characters(tokenizer: Tokenizer) -> set[str]:
    """Characters the vocabulary holds as pieces of their own (with or without the ▁ mark)."""
    processor = tokenizer._processor
    pieces = (processor.id_to_piece(i).lstrip("▁") for i in range(processor.get_piece_size()))
    return {p for p in pieces if len(p) == 1}


def unknown_shares(tokenizer: Tokenizer, unseen: list[str]) -> dict:
    """Share of unseen words whose pieces contain unk, split by cause."""
    known_characters = vocabulary_characters(tokenizer)
    unknown = [w for w, ids in zip(unseen, tokenizer.encode(unseen), strict=True) if UNK_ID in ids]
    by_character = [w for w in unknown if any(c not in known_characters for c in w)]
    n = max(len(unseen), 1)
    return {
        "unk_share": len(unknown) / n,
        "unk_by_cause": {
            "character": len(by_character) / n,
            "other": (len(unknown) - len(by_character)) / n,
        },
        "examples": sorted(set(unknown))[:8],
    }


def claim_subword_open_vocabulary(quick: bool = True) -> dict:
    sentences, test_words = toy_text() if quick else corpus_text()
    known = set(words_of(sentences))
    unseen = sorted({w for w in test_words if w not in known})
    size = 120 if quick else 8000
    pairs = [(s, "") for s in sentences]
    figures: dict = {
        "text": "built-in compounds" if quick else "default corpus, German side",
        "unseen_words": len(unseen),
        "word_level_unk_share": 1.0 if unseen else 0.0,  # by definition: not in the vocabulary
    }
    for name, fallback in (("subwords", False), ("byte_fallback", True)):
        config = TokenizerConfig(vocab_size=size + (256 if fallback else 0), byte_fallback=fallback)
        tokenizer = Tokenizer.train(pairs, config)
        figures[name] = {"vocab_size": tokenizer.vocab_size, **unknown_shares(tokenizer, unseen)}
    figures["subword_unk_share"] = figures["subwords"]["unk_share"]
    return figures
