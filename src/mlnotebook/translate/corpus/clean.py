"""Cleaning candidate pairs, and counting every pair we throw away.

Text first gets normalised the same way on both sides: accelerator marks that
tell a toolkit which letter underlines (`~Datei`, `&Fichier`, `Ö_ffnen`) go,
markup tags and entities go, white space collapses. Then a pair is dropped,
for the first reason that applies, if a side is empty, has no letters, is the
untranslated English original, carries a program placeholder (`%s`, `{0}`,
`$HOME`) or a URL, is longer than `max_words`, is really English (stop-word
test), or if the two sides' lengths differ by more than `max_length_ratio`.
Finally exact (de, fr) duplicates are removed. Each drop increments
`drops[reason]`, so the manifest accounts for every candidate.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from mlnotebook.translate.corpus.pairs import CandidatePair

_TAG = re.compile(r"<[^<>]{1,200}>")
_TILDE_ACCELERATOR = re.compile(r"~(?=\w)")
_AMPERSAND_ACCELERATOR = re.compile(r"&(?=[^\W\d_])(?![A-Za-z]+;)")
_UNDERSCORE_ACCELERATOR = re.compile(r"_(?=\w)")
_PLACEHOLDER = re.compile(
    r"%[-+#0-9.$]*[A-Za-z<(]"  # printf, GCC's %qD and %<, Python's %(name)s
    r"|%\d|%[A-Z]\w*%"  # Qt %1, Windows %VAR%
    r"|\{\w*\}|\$[({]?\w+"  # format fields, shell and make variables
)
_URL = re.compile(r"https?://|ftp://|www\.\w|\b[\w.+-]+@[\w-]+\.\w")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
# Words common in English and absent from German and French ("in", "an", "on", "will",
# "also", "was" and "die" are excluded on purpose: they are German or French words too).
_ENGLISH_STOP_WORDS = frozenset(
    "the and of to is that with for this are be you your which from by or not it can have has "
    "if when should these there their been would into only any then than such were does "
    "how what where who".split()
)


@dataclass(frozen=True)
class CleaningConfig:
    max_words: int = 100  # a side with more words is dropped (long blocks align poorly)
    max_length_ratio: float = 3.0  # on character counts, with `ratio_smoothing` added to both
    ratio_smoothing: int = 5  # keeps "OK" / "D'accord" from counting as a 4x mismatch
    english_min_hits: int = 2  # stop-word hits needed to call a side English ...
    english_min_share: float = 0.25  # ... and their share of the side's words


def normalise(text: str) -> str:
    """One line of plain text: accelerators, tags and entities removed, spaces collapsed."""
    text = _TILDE_ACCELERATOR.sub("", text)
    text = _AMPERSAND_ACCELERATOR.sub("", text).replace("&&", "&")
    if text.count("_") == 1:  # a lone underscore before a letter is a GTK mnemonic
        text = _UNDERSCORE_ACCELERATOR.sub("", text)
    text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split())


def looks_english(text: str, config: CleaningConfig) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    hits = sum(w in _ENGLISH_STOP_WORDS for w in words)
    return hits >= config.english_min_hits and hits >= config.english_min_share * len(words)


def _length_ratio(de: str, fr: str, smoothing: int) -> float:
    # r = (max(|de|, |fr|) + c) / (min(|de|, |fr|) + c)
    longer, shorter = max(len(de), len(fr)), min(len(de), len(fr))
    return (longer + smoothing) / (shorter + smoothing)


def drop_reason(de: str, fr: str, english: str, config: CleaningConfig) -> str | None:
    """Why a normalised pair should be dropped, or None to keep it."""
    sides = (de, fr)
    if not de or not fr:
        return "empty side"
    if any("\ufffd" in side for side in sides):
        return "invalid encoding"
    if not all(_LETTER.search(side) for side in sides):
        return "no letters"
    if english and normalise(english) in sides:
        return "untranslated (equals the English)"
    if any(_PLACEHOLDER.search(side) for side in sides):
        return "placeholder or variable"
    if any(_URL.search(side) for side in sides):
        return "URL or e-mail address"
    if max(len(de.split()), len(fr.split())) > config.max_words:
        return f"more than {config.max_words} words"
    if any(looks_english(side, config) for side in sides):
        return "a side is English"
    if _length_ratio(de, fr, config.ratio_smoothing) > config.max_length_ratio:
        return f"length ratio above {config.max_length_ratio:g}"
    return None


def clean_pairs(
    candidates: Iterable[CandidatePair], drops: Counter[str], config: CleaningConfig
) -> list[CandidatePair]:
    """Normalised, filtered, de-duplicated pairs; `drops` counts the rest by reason."""
    kept: list[CandidatePair] = []
    seen: set[tuple[str, str]] = set()
    for pair in candidates:
        de, fr = normalise(pair.de), normalise(pair.fr)
        reason = drop_reason(de, fr, pair.english, config)
        if reason is None and (de, fr) in seen:
            reason = "duplicate pair"
        if reason is not None:
            drops[f"clean: {reason}"] += 1
            continue
        seen.add((de, fr))
        kept.append(pair._replace(de=de, fr=fr))
    return kept
