"""The language judge: English sides found, short German and French UI strings left alone."""

from __future__ import annotations

import pytest

from mlnotebook.translate.corpus.v2.language_id import (
    LanguageIdConfig,
    LanguageJudge,
    prose_words,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("-f, --footer-numbering=STIL", []),
        ("Öffnen Sie die Datei /etc/fstab.", ["Öffnen", "Sie", "die", "Datei"]),
        ("Siehe fstab(5) und DATEI", ["Siehe", "und"]),
        ("l'arête « pointe » vers", ["l'arête", "pointe", "vers"]),
        ("X-Window (dpms deaktivieren)", ["X-Window", "dpms", "deaktivieren"]),
        ("com.sun.star.sheet v2 GNOME", []),
    ],
)
def test_prose_words_leave_code_numbers_and_acronyms_out(text, words):
    assert prose_words(text) == words


def _scores(english_lead: float):
    return lambda text: {"de": 0.0, "fr": 0.0, "en": english_lead}


@pytest.mark.parametrize(
    ("text", "expected", "lead", "english"),
    [
        ("Capture window", "fr", 10.0, True),  # plain margin reached
        ("Capture window", "fr", 9.9, False),
        ("The console tips", "fr", 5.0, True),  # a function word halves the margin
        ("The console tips", "fr", 4.9, False),
        ("The console tips", "de", 9.9, False),  # German sides need twice the margin
        ("The console tips", "de", 10.0, True),
        ("Fenster erfassen", "de", 19.9, False),
        ("Fenster erfassen", "de", 20.0, True),
        ("Taille", "fr", 1000.0, False),  # 6 letters: too short to judge
        ("--bold on|off", "fr", 1000.0, False),
    ],
)
def test_margins_and_the_shortness_rule(text, expected, lead, english):
    judge = LanguageJudge(LanguageIdConfig(), scorer=_scores(lead))
    assert judge.is_english(text, expected) is english


def test_unknown_expected_language_is_an_error():
    with pytest.raises(ValueError, match="expected 'de' or 'fr'"):
        LanguageJudge(scorer=_scores(100.0)).is_english("Capture window", "en")


# The real model (py3langid): cases read from the Debian corpus.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.1. The console tips", "fr"),
        ("terminate the process", "fr"),
        ("Solid state drive (SSD) is auto detected now.", "fr"),
        ("Open a Uniform Resource Locator (URL) in the default browser.", "fr"),
        ("Interner Fehler: indirect call count does not match BB count", "de"),
    ],
)
def test_real_model_finds_english_sides(text, expected):
    assert LanguageJudge().is_english(text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Short UI strings that the classifier alone calls English (or cannot tell):
        ("Aktive Torrents", "de"),
        ("Torrents actifs", "fr"),
        ("Options", "fr"),
        ("Navigation", "fr"),
        ("Information", "de"),
        ("Anweisung While…Wend", "de"),
        ("Instruction While...Wend", "fr"),
        ("X Window (désactive dpms)", "fr"),
        ("-b, --break-file=FICHIER", "fr"),
        ("Floating IP-Adresse (optional)", "de"),
        ("Autocrypt-Accounts", "de"),
        # Ordinary sentences:
        ("Die Datei in einem neuen Fenster öffnen", "de"),
        ("Ouvrir le fichier dans une nouvelle fenêtre", "fr"),
        ("Sieg! Die Diebe von Elensefar werden Euch von nun an dienen, mein Herr.", "de"),
        ("Victoire ! Les voleurs d'Elensefar seront à votre service, monseigneur.", "fr"),
    ],
)
def test_real_model_keeps_german_and_french(text, expected):
    assert not LanguageJudge().is_english(text, expected)
