"""The second cleaning pass: what each filter drops and keeps, and the count per reason."""

from __future__ import annotations

from collections import Counter

import pytest

from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.v2.language_id import LanguageJudge
from mlnotebook.translate.corpus.v2.pair_filters import (
    RefineConfig,
    count_problems,
    length_ratio,
    pair_problems,
    refine_pairs,
    side_key,
)


def _fake_scores(text: str) -> dict[str, float]:
    """English wins by 50 on texts holding 'tips' or 'process', loses by 50 elsewhere."""
    english = any(word in text for word in ("tips", "process"))
    return {"de": 0.0, "fr": 0.0, "en": 50.0 if english else -50.0}


@pytest.fixture
def judge():
    return LanguageJudge(scorer=_fake_scores)


@pytest.mark.parametrize(
    ("de", "fr", "problem"),
    [
        ("ps aux", "ps aux", "identical sides"),
        ("Linux", "Linux", "identical sides"),
        ("den Prozess beenden", "terminate the process", "French side is English"),
        ("9.1. The console tips", "9.1. Tipps für die Konsole", "German side is English"),
        ("Ohne speichern schließen", "Fermer", "length ratio above 2.5"),
        ("Neu", "Nouveau déclencheur", "length ratio above 2.5"),
        # kept: case differs (the lesson), ratios within bounds, short strings.
        ("Bryologie", "bryologie", None),
        ("Standardschriftfamilie", "Famille de police par défaut", None),
        ("Datei", "Fichier", None),
        ("OK", "D'accord", None),
    ],
)
def test_first_problem_of_a_pair(judge, de, fr, problem):
    assert next(pair_problems(de, fr, RefineConfig(), judge), None) == problem


def test_length_ratio_is_smoothed_and_symmetric():
    assert length_ratio("Ja", "Oui", 5) == pytest.approx(8 / 7)
    assert length_ratio("abcde", "a" * 20, 5) == length_ratio("a" * 20, "abcde", 5) == 2.5


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("9.2. Tipps für die Konsole", "tipps für die konsole"),
        ("Öffnen...", "öffnen"),
        ("ÖFFNEN", "öffnen"),
        ("Seite 2:", "seite"),
    ],
)
def test_side_key_ignores_case_digits_and_punctuation(text, key):
    assert side_key(text) == key


def test_refine_counts_every_drop_and_keeps_the_first_near_duplicate(judge):
    pairs = [
        CandidatePair("9.1. Tipps für die Konsole", "9.1. Astuces pour la console", "g1", "s"),
        CandidatePair("9.2. Tipps für die Konsole", "9.2. Astuces pour la console", "g2", "s"),
        CandidatePair("Öffnen", "Ouvrir", "g3", "s"),
        CandidatePair("Öffnen…", "Ouvrir…", "g4", "s"),
        CandidatePair("ps aux", "ps aux", "g5", "s"),
        CandidatePair("den Prozess beenden", "terminate the process", "g6", "s"),
        CandidatePair("Ja", "Oui, et bien plus encore", "g7", "s"),
        CandidatePair("Bryologie", "bryologie", "g8", "s"),
    ]
    drops: Counter[str] = Counter()
    kept = refine_pairs(pairs, drops, RefineConfig(), judge)
    assert [p.group for p in kept] == ["g1", "g3", "g8"]
    assert drops == Counter(
        {
            "clean v2: near-duplicate pair": 2,
            "clean v2: identical sides": 1,
            "clean v2: French side is English": 1,
            "clean v2: length ratio above 2.5": 1,
        }
    )
    assert len(kept) + sum(drops.values()) == len(pairs)


def test_count_problems_measures_without_dropping(judge):
    pairs = [("tips", "tips"), ("Datei", "Fichier"), ("Datei!", "Fichier!")]
    counts = count_problems(pairs, RefineConfig(), judge)
    # "tips" is identical, and (not judged: under 8 letters) not called English.
    assert counts == Counter({"pairs": 3, "identical sides": 1, "near-duplicate pair": 1})
