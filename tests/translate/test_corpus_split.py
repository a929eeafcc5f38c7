"""The hash split: deterministic, by group, and without leakage into valid/test."""

from __future__ import annotations

from collections import Counter

from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.split import split_of, split_pairs


def _pairs(count: int) -> list[CandidatePair]:
    return [CandidatePair(f"de {i}", f"fr {i}", f"group {i % 500}", "s") for i in range(count)]


def test_split_depends_only_on_the_group():
    pairs = _pairs(3000)
    first = split_pairs(pairs, Counter())
    second = split_pairs(list(reversed(pairs)), Counter())
    for name in first:
        assert sorted(first[name]) == sorted(second[name])
    for name, members in first.items():
        assert all(split_of(p.group) == name for p in members)
    groups = {name: {p.group for p in members} for name, members in first.items()}
    assert not groups["train"] & (groups["valid"] | groups["test"])
    # About 2% of the 500 groups each (binomial: far outside these bounds is a bug).
    assert 1 <= len(groups["test"]) <= 30 and 1 <= len(groups["valid"]) <= 30


def test_valid_and_test_sides_never_appear_in_train():
    pairs = _pairs(3000)
    test_group = next(p.group for p in pairs if split_of(p.group) == "test")
    # The same German sentence in a train group and in a test group:
    train_group = next(p.group for p in pairs if split_of(p.group) == "train")
    pairs += [
        CandidatePair("geteilt", "partagé A", train_group, "s"),
        CandidatePair("geteilt", "partagé B", test_group, "s"),
    ]
    drops: Counter[str] = Counter()
    splits = split_pairs(pairs, drops)
    train_sides = {p.de for p in splits["train"]} | {p.fr for p in splits["train"]}
    for name in ("valid", "test"):
        assert all(p.de not in train_sides and p.fr not in train_sides for p in splits[name])
    assert drops["split: test pair sharing a side with train"] == 1
    assert sum(len(s) for s in splits.values()) + sum(drops.values()) == len(pairs)
