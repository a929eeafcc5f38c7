"""The v2 split: buckets per kind of source, and no held-out side (or near-copy) in train."""

from __future__ import annotations

from collections import Counter

from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.split import split_of
from mlnotebook.translate.corpus.v2.held_out import SideIndex, bucket_pairs, split_v2
from mlnotebook.translate.corpus.v2.pair_filters import side_key

GENERAL = frozenset({"game"})
DICTIONARY = frozenset({"dict"})


def _group(split: str, valid_percent: int, test_percent: int, start: int = 0) -> str:
    """A group name that hashes into `split` under these percentages."""
    number = start
    while split_of(f"g{number}", valid_percent, test_percent) != split:
        number += 1
    return f"g{number}"


def _pairs(source: str, count: int) -> list[CandidatePair]:
    return [
        CandidatePair(f"de {source} {i}", f"fr {source} {i}", f"{source}-{i}", source)
        for i in range(count)
    ]


def test_buckets_follow_the_kind_of_source():
    pairs = _pairs("software", 2000) + _pairs("game", 2000) + _pairs("dict", 300)
    buckets = bucket_pairs(pairs, GENERAL, DICTIONARY)
    by_source = {name: Counter(p.source for p in members) for name, members in buckets.items()}
    assert by_source["test-general"].keys() == {"game"}
    assert by_source["software-test"].keys() == {"software"}
    assert by_source["train"]["dict"] == 300  # dictionary entries are never held out
    assert by_source["valid"].keys() == {"software", "game"}
    # Software keeps v1's 2% test; general text holds out 5% (binomial bounds).
    assert 15 <= by_source["software-test"]["software"] <= 70
    assert 60 <= by_source["test-general"]["game"] <= 140
    for pair in buckets["software-test"]:
        assert split_of(pair.group) == "test"  # the same buckets as the yardstick


def test_side_index_finds_exact_sides_and_near_copies():
    index = SideIndex([("Seite 2:", "Page 2 :")])
    assert index.touches("Seite 2:", "autre")
    assert index.touches("anders", "page")  # a near-copy of "Page 2 :"
    assert not index.touches("Seiten", "Pages")


def test_no_held_out_side_reaches_train_and_drops_are_counted():
    yardstick = [("Datei öffnen", "Ouvrir le fichier"), ("Beenden", "Quitter")]
    test_general_group = _group("test", 2, 5)
    valid_group = _group("valid", 2, 2)
    train_group = _group("train", 2, 5)
    pairs = [
        CandidatePair("Datei öffnen…", "Ouvrir un fichier", train_group, "software"),  # near
        CandidatePair("Beenden", "Fermer", train_group, "dict"),  # exact German side
        CandidatePair("Der Drache schläft", "Le dragon dort", test_general_group, "game"),
        CandidatePair("Der Drache schläft.", "Le dragon sommeille.", train_group, "game"),
        CandidatePair("Beenden!", "Quitter !", test_general_group, "game"),  # near yardstick
        CandidatePair("Speichern", "Enregistrer", valid_group, "software"),
        CandidatePair("speichern", "sauvegarder", train_group, "software"),
        CandidatePair("Ein Baum", "Un arbre", train_group, "software"),
    ]
    drops: Counter[str] = Counter()
    splits = split_v2(pairs, yardstick, GENERAL, DICTIONARY, drops)
    assert [(p.de, p.fr) for p in splits["train"]] == [("Ein Baum", "Un arbre")]
    assert [p.de for p in splits["test-general"]] == ["Der Drache schläft"]
    assert [p.de for p in splits["valid"]] == ["Speichern"]
    assert drops == Counter(
        {
            "split v2: software pair in the test buckets (the yardstick's)": 0,
            "split v2: test-general pair sharing a side with the yardstick": 1,
            "split v2: valid pair sharing a side with a test split": 0,
            "split v2: train pair sharing a side (or a near-copy) with a held-out split": 4,
        }
    )
    held_out = [
        *yardstick,
        *((p.de, p.fr) for name in ("valid", "test-general") for p in splits[name]),
    ]
    held_out_keys = {side_key(side) for pair in held_out for side in pair}
    for pair in splits["train"]:
        assert side_key(pair.de) not in held_out_keys and side_key(pair.fr) not in held_out_keys
    assert sum(len(s) for s in splits.values()) + sum(drops.values()) == len(pairs)
