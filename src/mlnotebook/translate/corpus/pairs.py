"""The record every source produces: one German-French candidate pair.

`group` is what the train/valid/test split hashes (the English msgid for
catalogs, the document for manuals), so near-identical pairs that share an
origin always land in the same split. `source` names where it came from, for
the manifest's counts; `english` is the English original when known, so the
cleaner can recognise untranslated entries.
"""

from __future__ import annotations

from typing import NamedTuple


class CandidatePair(NamedTuple):
    de: str
    fr: str
    group: str
    source: str
    english: str = ""


def package_family(package: str) -> str:
    """'debian-reference-de' -> 'debian-reference'; language-neutral names are kept."""
    for suffix in ("-de", "-fr"):
        if package.endswith(suffix):
            return package.removesuffix(suffix)
    return package
