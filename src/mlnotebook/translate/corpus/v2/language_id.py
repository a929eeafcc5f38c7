"""Is this side really German (or French), or is it English? Asked only where the answer holds.

Untranslated English hides in both sides of the Debian text: a French manual
chapter nobody translated yet ("9.1. The console tips"), a German compiler
message that kept its English body after "Interner Fehler:". A character
n-gram classifier (py3langid, Lui and Baldwin's langid.py with its model
inside the PyPI package) spots these, but on one to three words it guesses:
"Aktive Torrents", "Options" and "Navigation" are as English as they are
German or French. So the judge is careful in three ways:

1. It reads only *prose words*: letters, joined by at most an apostrophe or a
   hyphen. Option names (`--footer-numbering=STIL`), paths, identifiers with
   digits or dots, and all-capital words (`DATEI`, `API`) are left out; they
   are code, not language, and made most of the false alarms.
2. A side with fewer than `min_letters` letters in prose words is not judged.
3. English must beat the expected language by a margin in the classifier's
   log-likelihood (restricted to German, French and English):
   `margin = log P(text | en) - log P(text | expected)`. A smaller margin is
   enough when the side also holds an English function word ("the", "for",
   ...). German sides need twice the French margins: German software text
   borrows English terms freely ("Floating IP-Adresse", "Autocrypt-Accounts"),
   French localisation translates them, so English in a French side is the
   stronger signal.

The margins were set by reading samples of what they drop (docs/corpus.md has
the counts and the false drops found by eye).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Protocol

# The English-only function words of the v1 cleaner, shared so both agree on them.
from mlnotebook.translate.corpus.clean import _ENGLISH_STOP_WORDS as ENGLISH_FUNCTION_WORDS

_PROSE_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$")
_EDGE_PUNCTUATION = ".,;:!?()[]{}<>\"'«»“”„‘’…*`"
LANGUAGES = ("de", "fr", "en")


@dataclass(frozen=True)
class LanguageIdConfig:
    min_letters: int = 8  # sides with fewer letters (in prose words) are not judged
    french_margin: float = 10.0  # English must win a French side by this much ...
    french_margin_with_function_word: float = 5.0  # ... or by this, holding "the"/"for"/...
    german_margin: float = 20.0  # the same two margins for German sides
    german_margin_with_function_word: float = 10.0


class Scorer(Protocol):
    def __call__(self, text: str) -> dict[str, float]: ...


def prose_words(text: str) -> list[str]:
    """The words of `text` that carry language: no code, numbers or all-capital tokens."""
    words = []
    for token in text.split():
        token = token.strip(_EDGE_PUNCTUATION)
        is_acronym = token.isupper() and len(token) > 1
        if _PROSE_WORD.match(token) and not is_acronym:
            words.append(token)
    return words


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def langid_scores(text: str) -> dict[str, float]:
    """Log-likelihood (plus prior) of `text` under German, French and English."""
    return dict(_identifier().rank(text))


class LanguageJudge:
    """Decides whether a German or French side is in fact English (see the module docstring)."""

    def __init__(self, config: LanguageIdConfig | None = None, scorer: Scorer | None = None):
        self.config = config or LanguageIdConfig()
        self.scorer = scorer or langid_scores  # looked up now, so tests can stand in for it

    def english_margin(self, text: str, expected: str) -> float | None:
        """log P(en) - log P(expected) over the prose words; None when too short to judge."""
        words = prose_words(text)
        if sum(len(word) for word in words) < self.config.min_letters:
            return None
        scores = self.scorer(" ".join(words))
        return scores["en"] - scores[expected]

    def _margins(self, expected: str) -> tuple[float, float]:
        config = self.config
        if expected == "de":
            return config.german_margin, config.german_margin_with_function_word
        if expected == "fr":
            return config.french_margin, config.french_margin_with_function_word
        raise ValueError(f"expected language {expected!r}: expected 'de' or 'fr'")

    def is_english(self, text: str, expected: str) -> bool:
        """True when `text`, meant to be `expected` ('de' or 'fr'), is English by a safe margin."""
        plain, with_function_word = self._margins(expected)
        margin = self.english_margin(text, expected)
        if margin is None:
            return False
        if margin >= plain:
            return True
        has_function_word = any(w.lower() in ENGLISH_FUNCTION_WORDS for w in prose_words(text))
        return has_function_word and margin >= with_function_word
