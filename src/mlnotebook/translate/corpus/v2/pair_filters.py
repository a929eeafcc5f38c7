"""The second cleaning pass: filters the v1 cleaner lets through, each drop counted.

Run after `clean.clean_pairs` (which normalises text and removes placeholders,
URLs, overlong sides and exact duplicates). A pair is dropped, for the first
reason that applies, when

- both sides are the same string: in the Debian text these are commands,
  option names, identifiers and untranslated English (48 of 50 sampled), and
  they teach the model to copy. Names still get copied correctly: they occur
  inside thousands of translated sentences. Sides that differ only in case
  ("Bryologie" / "bryologie") are kept, since the difference is the lesson;
- the German or the French side is English (`language_id.LanguageJudge`);
- the sides' lengths differ by more than `max_length_ratio` (2.5, where v1
  uses 3): between 2.5 and 3 most pairs we read were loose or wrong
  ("Ohne speichern schließen" / "Fermer");
- it is a near-duplicate of a pair kept earlier: the same words on both sides
  once case, digits and punctuation are ignored ("9.1. Tipps" / "9.2. Tipps",
  "Öffnen..." / "Öffnen").

`side_key` is also what the split uses to keep near-copies of held-out text
out of training.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.v2.language_id import LanguageIdConfig, LanguageJudge

_WORD = re.compile(r"[^\W\d_]+")
DROP_PREFIX = "clean v2: "


@dataclass(frozen=True)
class RefineConfig:
    max_length_ratio: float = 2.5  # on character counts, with `ratio_smoothing` added to both
    ratio_smoothing: int = 5
    language: LanguageIdConfig = field(default_factory=LanguageIdConfig)


def side_key(text: str) -> str:
    """The words of a side, case-folded, without digits or punctuation: 'Seite 2:' -> 'seite'."""
    return " ".join(word.casefold() for word in _WORD.findall(text))


def length_ratio(de: str, fr: str, smoothing: int) -> float:
    # r = (max(|de|, |fr|) + c) / (min(|de|, |fr|) + c)
    longer, shorter = max(len(de), len(fr)), min(len(de), len(fr))
    return (longer + smoothing) / (shorter + smoothing)


def pair_problems(de: str, fr: str, config: RefineConfig, judge: LanguageJudge) -> Iterator[str]:
    """Each reason to drop this pair, lazily, in the order `refine_pairs` tests them."""
    if de == fr:
        yield "identical sides"
    if judge.is_english(de, "de"):
        yield "German side is English"
    if judge.is_english(fr, "fr"):
        yield "French side is English"
    if length_ratio(de, fr, config.ratio_smoothing) > config.max_length_ratio:
        yield f"length ratio above {config.max_length_ratio:g}"


def refine_pairs(
    pairs: Iterable[CandidatePair],
    drops: Counter[str],
    config: RefineConfig,
    judge: LanguageJudge,
) -> list[CandidatePair]:
    """The pairs no filter objects to, first of each near-duplicate; `drops` counts the rest."""
    kept: list[CandidatePair] = []
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        reason = next(pair_problems(pair.de, pair.fr, config, judge), None)
        key = (side_key(pair.de), side_key(pair.fr))
        if reason is None and key in seen:
            reason = "near-duplicate pair"
        if reason is not None:
            drops[DROP_PREFIX + reason] += 1
            continue
        seen.add(key)
        kept.append(pair)
    return kept


def count_problems(
    pairs: Iterable[tuple[str, str]], config: RefineConfig, judge: LanguageJudge
) -> Counter[str]:
    """How many pairs have each problem (a pair may count several times); nothing is dropped."""
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for de, fr in pairs:
        counts["pairs"] += 1
        counts.update(pair_problems(de, fr, config, judge))
        key = (side_key(de), side_key(fr))
        if key in seen:
            counts["near-duplicate pair"] += 1
        seen.add(key)
    return counts
