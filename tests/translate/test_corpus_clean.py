"""Normalisation and filters of candidate pairs; every drop is counted."""

from __future__ import annotations

from collections import Counter

import pytest

from mlnotebook.translate.corpus.clean import CleaningConfig, clean_pairs, drop_reason, normalise
from mlnotebook.translate.corpus.pairs import CandidatePair


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("~Datei", "Datei"),
        ("Ö_ffnen", "Öffnen"),
        ("&Fichier", "Fichier"),
        ("Q&&A", "Q&A"),
        ("a_b_c", "a_b_c"),  # several underscores: an identifier, not a mnemonic
        ("<b>Fett</b>  und\n&lt;neu&gt;", "Fett und <neu>"),
    ],
)
def test_normalise(raw, clean):
    assert normalise(raw) == clean


@pytest.mark.parametrize(
    ("de", "fr", "english", "reason"),
    [
        ("", "Ouvrir", "", "empty side"),
        ("123", "123", "", "no letters"),
        ("Open", "Ouvrir", "Open", "untranslated (equals the English)"),
        ("Datei %s öffnen", "Ouvrir le fichier %s", "", "placeholder or variable"),
        ("Fehler %qD", "erreur %qD", "", "placeholder or variable"),
        ("Siehe {0}", "Voir {0}", "", "placeholder or variable"),
        ("Siehe https://x.org", "Voir https://x.org", "", "URL or e-mail address"),
        ("Die Datei", "This is the file that you want", "", "a side is English"),
        ("Ja", "Oui, et bien plus encore que cela", "", "length ratio above 3"),
        ("Datei öffnen", "Ouvrir le fichier", "", None),
        ("50 % fertig", "50 % terminé", "", None),
    ],
)
def test_drop_reason(de, fr, english, reason):
    assert drop_reason(de, fr, english, CleaningConfig()) == reason


def test_long_sides_are_dropped():
    long = " ".join(["Wort"] * 101)
    assert drop_reason(long, long.replace("Wort", "mot"), "", CleaningConfig()) == (
        "more than 100 words"
    )


def test_clean_pairs_dedupes_and_accounts_for_every_candidate():
    candidates = [
        CandidatePair("~Datei", "~Fichier", "File", "a", "File"),
        CandidatePair("Datei", "Fichier", "File", "b", "File"),  # same after normalising
        CandidatePair("File", "Fichier", "File", "a", "File"),  # untranslated
        CandidatePair("Neu", "Nouveau", "New", "a", "New"),
    ]
    drops: Counter[str] = Counter()
    kept = clean_pairs(candidates, drops, CleaningConfig())
    assert [(p.de, p.fr) for p in kept] == [("Datei", "Fichier"), ("Neu", "Nouveau")]
    assert drops == Counter(
        {"clean: duplicate pair": 1, "clean: untranslated (equals the English)": 1}
    )
    assert len(kept) + sum(drops.values()) == len(candidates)
