"""Reading .mo catalogs and pairing German with French by English msgid."""

from __future__ import annotations

from collections import Counter

from mlnotebook.translate.corpus.gettext_pairs import catalog_key, pair_catalogs, read_catalog
from tests.translate.corpus_fakes import mo_bytes


def test_read_catalog_round_trips_our_mo_writer():
    messages = {"Open": "Öffnen", "menu\x04File": "Datei", "Save": "Speichern"}
    assert read_catalog(mo_bytes(messages)) == messages


def test_catalog_key_joins_split_packages():
    de = catalog_key("usr/lib/libreoffice/program/resource/de/LC_MESSAGES/sw.mo")
    fr = catalog_key("usr/lib/libreoffice/program/resource/fr/LC_MESSAGES/sw.mo")
    assert de[0] == "de" and fr[0] == "fr" and de[1] == fr[1]
    assert catalog_key("usr/share/locale/de_AT/LC_MESSAGES/x.mo") is None


def test_pairs_by_msgid_with_context_and_counts_the_rest():
    german = {"d": ("app-l10n-de", {"Open": "Öffnen", "menu\x04File": "Datei", "Quit": "Beenden"})}
    french = {"d": ("app-l10n-fr", {"Open": "Ouvrir", "menu\x04File": "Fichier"})}
    drops: Counter[str] = Counter()
    pairs = pair_catalogs(german, french, drops)
    assert sorted((p.de, p.fr, p.group, p.english) for p in pairs) == [
        ("Datei", "Fichier", "File", "File"),
        ("Öffnen", "Ouvrir", "Open", "Open"),
    ]
    assert {p.source for p in pairs} == {"app-l10n"}
    assert drops["gettext: msgid translated in one language only"] == 1
