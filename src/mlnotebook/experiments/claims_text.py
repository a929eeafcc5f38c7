"""Claims about the text side of translation: subword vocabularies and BLEU.

(a) `claim_subword_open_vocabulary`: a word-level vocabulary turns every word it has not
    seen into "unknown"; a subword vocabulary trained on the same text spells most unseen
    words out of known pieces. Measured on a small built-in German text: the share of
    unseen test words that end up as unk under each scheme.
(b) `claim_bleu_word_order`: BLEU counts matching n-grams, so a hypothesis with every
    word right in a scrambled order keeps its unigram precision but loses most of its
    score; and a faithful paraphrase with different words scores lower still.
"""

from __future__ import annotations

import random

from mlnotebook.translate.evaluate import corpus_bleu
from mlnotebook.translate.tokenizer import UNK_ID, Tokenizer, TokenizerConfig

_STEMS = ("haus", "garten", "kind", "wagen", "stadt", "land", "baum", "tisch", "buch", "weg")
_PARTS = ("", "es", "er", "chen", "tür", "fenster", "dach", "bahn")
_FRAMES = ("das {} ist groß", "wir sehen das {}", "im {} ist es ruhig", "ein {} und noch ein {}")


def _words(stems: tuple[str, ...], parts: tuple[str, ...]) -> list[str]:
    return [stem + part for stem in stems for part in parts]


def _sentences(words: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(_FRAMES).format(word, rng.choice(words)) for word in words * 4]


def claim_subword_open_vocabulary(quick: bool = True) -> dict:
    """Unk rate on unseen compounds: word vocabulary vs sentencepiece subwords."""
    train_parts, test_parts = _PARTS[:5], _PARTS[5:]  # test compounds never seen whole
    train_words = _words(_STEMS, train_parts)
    test_words = _words(_STEMS, test_parts) + [p + s for p in test_parts[1:] for s in _STEMS[:3]]
    sentences = _sentences(train_words, seed=0)
    tokenizer = Tokenizer.train(
        [(s, s) for s in sentences], TokenizerConfig(vocab_size=120, max_sentences=len(sentences))
    )
    known = {w for s in sentences for w in s.split()}
    word_unk = sum(w not in known for w in test_words) / len(test_words)
    pieces = tokenizer.encode(test_words)
    subword_unk = sum(UNK_ID in ids for ids in pieces) / len(test_words)
    return {
        "test_words": len(test_words),
        "vocab_size": tokenizer.vocab_size,
        "word_level_unk_share": word_unk,
        "subword_unk_share": subword_unk,
        "mean_pieces_per_unseen_word": sum(map(len, pieces)) / len(pieces),
    }


REFERENCES = (
    "the cat sat on the mat near the door",
    "we will meet at the station tomorrow morning",
    "the committee approved the new budget after a long debate",
)
PARAPHRASES = (
    "a cat was sitting upon the rug by the entrance",
    "tomorrow morning we are meeting at the train station",
    "following lengthy discussion the panel accepted the fresh budget",
)


def claim_bleu_word_order(quick: bool = True) -> dict:
    rng = random.Random(0)
    scrambled = []
    for sentence in REFERENCES:
        words = sentence.split()
        rng.shuffle(words)
        scrambled.append(" ".join(words))
    references = list(REFERENCES)
    return {
        "bleu_identical": corpus_bleu(references, references).score,
        "bleu_scrambled": corpus_bleu(scrambled, references).score,
        "bleu_paraphrase": corpus_bleu(list(PARAPHRASES), references).score,
    }
