"""The v2 split: hashed groups as in v1, a general test split, and no held-out text in training.

Each pair's group (English msgid, document, or dictionary headword) is hashed
into a bucket in [0, 100), as in `corpus/split.py`:

- software text (the v1 sources) uses v1's buckets: 0-1 test, 2-3 valid.
  Its test buckets are the yardstick's territory: those pairs are neither
  trained on nor written again (the yardstick file is copied from the default
  corpus, see `yardstick.py`);
- general text (Wesnoth, Freeciv) uses 0-4 for `test-general` (5%, so the
  split has about a thousand pairs) and 5-6 for valid;
- dictionary entries always go to train: a held-out list of single words
  would measure look-up, not translation, and would take those words out of
  the vocabulary the sentences need.

Leakage is then removed in one direction, from the less fixed split. "Touch"
means that a side equals, or is a near-copy of (`pair_filters.side_key`: the
same words ignoring case, digits and punctuation), a side of the other split.
A held-out pair that touches a more fixed held-out split (yardstick, then
test-general, then valid) is dropped, and so is every training pair that
touches any held-out split. Every drop is counted by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.split import split_of
from mlnotebook.translate.corpus.v2.pair_filters import side_key

Pair = tuple[str, str]
SOFTWARE_PERCENTS = {"valid_percent": 2, "test_percent": 2}  # v1's, so buckets match the yardstick
GENERAL_PERCENTS = {"valid_percent": 2, "test_percent": 5}
SPLITS = ("train", "valid", "test-general")


class SideIndex:
    """The German and French sides of some pairs, found exactly or by `side_key`."""

    def __init__(self, pairs: Iterable[Pair] = ()) -> None:
        self.sides: set[str] = set()
        self.keys: set[str] = set()
        self.add(pairs)

    def add(self, pairs: Iterable[Pair]) -> None:
        for pair in pairs:
            for side in pair[:2]:
                self.sides.add(side)
                self.keys.add(side_key(side))

    def touches(self, de: str, fr: str) -> bool:
        """True when either side is, or nearly is, a side of the indexed pairs."""
        return any(side in self.sides or side_key(side) in self.keys for side in (de, fr))


def bucket_pairs(
    pairs: Iterable[CandidatePair],
    general_sources: frozenset[str],
    dictionary_sources: frozenset[str],
) -> dict[str, list[CandidatePair]]:
    """train / valid / test-general / software-test by the hash of each pair's group."""
    buckets: dict[str, list[CandidatePair]] = {name: [] for name in (*SPLITS, "software-test")}
    for pair in pairs:
        if pair.source in dictionary_sources:
            buckets["train"].append(pair)
        elif pair.source in general_sources:
            split = split_of(pair.group, **GENERAL_PERCENTS)
            buckets["test-general" if split == "test" else split].append(pair)
        else:
            split = split_of(pair.group, **SOFTWARE_PERCENTS)
            buckets["software-test" if split == "test" else split].append(pair)
    return buckets


def _without(
    pairs: list[CandidatePair], protected: SideIndex, reason: str, drops: Counter[str]
) -> list[CandidatePair]:
    kept = [pair for pair in pairs if not protected.touches(pair.de, pair.fr)]
    drops[reason] += len(pairs) - len(kept)
    return kept


def split_v2(
    pairs: Iterable[CandidatePair],
    yardstick: list[Pair],
    general_sources: frozenset[str],
    dictionary_sources: frozenset[str],
    drops: Counter[str],
) -> dict[str, list[CandidatePair]]:
    """train, valid and test-general, none sharing a side with the yardstick or each other."""
    buckets = bucket_pairs(pairs, general_sources, dictionary_sources)
    drops["split v2: software pair in the test buckets (the yardstick's)"] += len(
        buckets.pop("software-test")
    )
    protected = SideIndex(yardstick)
    buckets["test-general"] = _without(
        buckets["test-general"],
        protected,
        "split v2: test-general pair sharing a side with the yardstick",
        drops,
    )
    protected.add(buckets["test-general"])
    buckets["valid"] = _without(
        buckets["valid"], protected, "split v2: valid pair sharing a side with a test split", drops
    )
    protected.add(buckets["valid"])
    buckets["train"] = _without(
        buckets["train"],
        protected,
        "split v2: train pair sharing a side (or a near-copy) with a held-out split",
        drops,
    )
    return buckets
