"""Unseen words and the causes of unknowns: character outside the vocabulary, or other."""

from __future__ import annotations

from mlnotebook.experiments import claims_subwords as claim
from mlnotebook.translate.tokenizer import Tokenizer, TokenizerConfig


def test_words_lose_surrounding_punctuation_only():
    assert claim.words_of(["Das ist „gut“, oder?", "E-Mail: a.b"]) == [
        "Das",
        "ist",
        "gut",
        "oder",
        "E-Mail",
        "a.b",
    ]


def test_unknowns_are_traced_to_characters_outside_the_vocabulary():
    pairs = [("das haus ist groß", "")] * 30 + [("wir sehen den garten", "")] * 30
    tokenizer = Tokenizer.train(pairs, TokenizerConfig(vocab_size=60))
    shares = claim.unknown_shares(tokenizer, ["hausgarten", "fenster", "gartenzaun"])
    # 'f' and 'z' never occur in the training text: two of three words hold one.
    assert shares["unk_share"] == 2 / 3
    assert shares["unk_by_cause"] == {"character": 2 / 3, "other": 0.0}
    assert shares["examples"] == ["fenster", "gartenzaun"]
    fallback = Tokenizer.train(pairs, TokenizerConfig(vocab_size=320, byte_fallback=True))
    assert claim.unknown_shares(fallback, ["fenster", "gartenzaun", "中"])["unk_share"] == 0.0


def test_the_quick_text_has_unseen_words_and_no_unknown_with_byte_fallback():
    figures = claim.claim_subword_open_vocabulary(quick=True)
    assert figures["unseen_words"] > 20 and figures["word_level_unk_share"] == 1.0
    subwords = figures["subwords"]
    assert 0 < subwords["unk_share"] < 1
    assert subwords["unk_by_cause"]["other"] == 0.0  # every unknown is a missing letter
    assert figures["byte_fallback"]["unk_share"] == 0.0
