"""A train/valid/test split that is stable and does not leak.

Each pair belongs to a group (its English msgid, or its source document). The
group's SHA-1, taken modulo 100, decides the split: the lowest `test_percent`
buckets are test, the next `valid_percent` are validation, the rest train.
Hashing the content rather than row positions keeps a pair in the same split
when package versions change and rows move. Groups alone do not stop the same
German or French sentence appearing under two groups, so afterwards every
valid/test pair with a side that also occurs in train is dropped (and counted).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from mlnotebook.translate.corpus.pairs import CandidatePair

SPLITS = ("train", "valid", "test")


def split_of(group: str, valid_percent: int = 2, test_percent: int = 2) -> str:
    """'train', 'valid' or 'test' for a group, from its hash bucket in [0, 100)."""
    bucket = int(hashlib.sha1(group.encode("utf-8")).hexdigest(), 16) % 100
    if bucket < test_percent:
        return "test"
    if bucket < test_percent + valid_percent:
        return "valid"
    return "train"


def split_pairs(
    pairs: Iterable[CandidatePair],
    drops: Counter[str],
    valid_percent: int = 2,
    test_percent: int = 2,
) -> dict[str, list[CandidatePair]]:
    """Pairs by split, with no valid/test German or French side present in train."""
    splits: dict[str, list[CandidatePair]] = {name: [] for name in SPLITS}
    for pair in pairs:
        splits[split_of(pair.group, valid_percent, test_percent)].append(pair)
    train_sides = {p.de for p in splits["train"]} | {p.fr for p in splits["train"]}
    for name in ("valid", "test"):
        kept = [p for p in splits[name] if p.de not in train_sides and p.fr not in train_sides]
        drops[f"split: {name} pair sharing a side with train"] += len(splits[name]) - len(kept)
        splits[name] = kept
    return splits
