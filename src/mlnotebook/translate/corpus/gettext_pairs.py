"""Pairing German and French message catalogs through their English msgids.

A program's translators all translate the same English strings (msgids), so
the German and French `.mo` catalogs of one text domain, e.g.
`usr/share/locale/de/LC_MESSAGES/gtk.mo` and `.../fr/...`, give a
German-French pair for every msgid both have translated. The domain key is
the path with the language taken out, so catalogs split across two packages
(`libreoffice-l10n-de`, `libreoffice-l10n-fr`) still meet. The English msgid
becomes the pair's split group and lets the cleaner spot untranslated text.
"""

from __future__ import annotations

import gettext
import io
import re
from collections import Counter

from mlnotebook.translate.corpus.pairs import CandidatePair, package_family

_CATALOG_PATH = re.compile(r"^(.*/)(de|fr)(/LC_MESSAGES/[^/]+\.mo)$")
_CONTEXT_SEPARATOR = "\x04"  # msgctxt and msgid are stored as "ctx\x04msgid"

CatalogTable = dict[str, tuple[str, dict[str, str]]]  # domain key -> (package, catalog)


def catalog_key(path: str) -> tuple[str, str] | None:
    """(language, language-free domain key) of a German or French .mo path, else None."""
    match = _CATALOG_PATH.match(path)
    if match is None:
        return None
    return match.group(2), f"{match.group(1)}{{lang}}{match.group(3)}"


def read_catalog(content: bytes) -> dict[str, str]:
    """msgid (with its context, if any) -> translation, from the bytes of a .mo file.

    Plural entries contribute their first form; the header entry (msgid "") is skipped.
    """
    catalog = gettext.GNUTranslations(io.BytesIO(content))._catalog  # type: ignore[attr-defined]
    messages: dict[str, str] = {}
    for key, translation in catalog.items():
        if isinstance(key, tuple):
            msgid, form = key
            if form != 0:
                continue
        else:
            msgid = key
        if msgid and translation:
            messages[msgid] = translation
    return messages


def english_of(msgid: str) -> str:
    return msgid.rpartition(_CONTEXT_SEPARATOR)[2]


def pair_catalogs(
    german: CatalogTable, french: CatalogTable, drops: Counter[str]
) -> list[CandidatePair]:
    """A candidate pair for every msgid translated in both languages of a domain."""
    pairs: list[CandidatePair] = []
    for key in sorted(german.keys() & french.keys()):
        package, de_catalog = german[key]
        fr_catalog = french[key][1]
        shared = de_catalog.keys() & fr_catalog.keys()
        drops["gettext: msgid translated in one language only"] += (
            len(de_catalog) + len(fr_catalog) - 2 * len(shared)
        )
        source = package_family(package)
        for msgid in sorted(shared):
            english = english_of(msgid)
            pairs.append(
                CandidatePair(de_catalog[msgid], fr_catalog[msgid], english, source, english)
            )
    drops["gettext: domain in one language only"] += len(german.keys() ^ french.keys())
    return pairs
