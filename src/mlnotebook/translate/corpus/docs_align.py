"""Pairing German and French documentation by structure.

Two files are translations of each other when their paths agree once the
language marker is taken out: `help/de/text/a.html` and `help/fr/text/a.html`,
`ch01.de.html` and `ch01.fr.html`, `html/de-DE/x.html` and `html/fr-FR/x.html`.
Inside a pair of files, blocks are matched in one of two ways:

- by anchor, when the blocks carry ids (LibreOffice help: every paragraph has
  one, so (file, id) pairs are exact);
- otherwise by aligning the two block sequences on their language-independent
  signatures (tag, numbers, inline-element count) with difflib, and keeping
  only blocks inside runs that match exactly. Blocks outside those runs are
  counted as unmatched, not guessed at.
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher

from mlnotebook.translate.corpus.markup_blocks import Block
from mlnotebook.translate.corpus.pairs import CandidatePair, package_family

LANGUAGES = ("de", "fr")
_DIR_MARKERS = {"de": "de", "fr": "fr", "de-DE": "de", "fr-FR": "fr", "de_DE": "de", "fr_FR": "fr"}
_FILE_MARKER = re.compile(r"\.(de|fr)(?=\.)")
_DIR_SUFFIX = re.compile(r"^(.+)-(de|fr)$")  # usr/share/doc/maint-guide-de/...
_DOC_SUFFIX = re.compile(r"\.(html?|xhtml|page)$|/man/.*\.\d\w*(\.gz)?$")

DocumentTable = dict[str, tuple[str, list[Block]]]  # key -> (package, blocks)


def document_key(path: str) -> tuple[str, str] | None:
    """(language, language-free key) of a documentation file, or None if it is not one."""
    if not _DOC_SUFFIX.search(path) or "/LC_MESSAGES/" in path:
        return None
    found: set[str] = set()
    segments = []
    for segment in path.split("/"):
        if segment in _DIR_MARKERS:
            found.add(_DIR_MARKERS[segment])
            segment = "{lang}"
        elif match := _DIR_SUFFIX.match(segment):
            found.add(match.group(2))
            segment = f"{match.group(1)}-{{lang}}"
        segments.append(segment)
    head, _, filename = "/".join(segments).rpartition("/")
    found.update(_FILE_MARKER.findall(filename))
    filename = _FILE_MARKER.sub(".{lang}", filename)
    if len(found) != 1:
        return None
    return found.pop(), f"{head}/{filename}"


def align_by_anchor(de_blocks: list[Block], fr_blocks: list[Block]) -> list[tuple[Block, Block]]:
    """Pairs of blocks with the same (id, occurrence of that id)."""

    def keyed(blocks: list[Block]) -> dict[tuple[str, int], Block]:
        seen: Counter[str] = Counter()
        table = {}
        for block in blocks:
            if block.anchor:
                table[(block.anchor, seen[block.anchor])] = block
                seen[block.anchor] += 1
        return table

    fr_table = keyed(fr_blocks)
    return [(b, fr_table[k]) for k, b in keyed(de_blocks).items() if k in fr_table]


def align_by_sequence(de_blocks: list[Block], fr_blocks: list[Block]) -> list[tuple[Block, Block]]:
    """Pairs of blocks inside the runs where the two signature sequences agree."""
    matcher = SequenceMatcher(
        None, [b.signature for b in de_blocks], [b.signature for b in fr_blocks], autojunk=False
    )
    return [
        (de_blocks[a + k], fr_blocks[b + k])
        for a, b, size in matcher.get_matching_blocks()
        for k in range(size)
    ]


def _mostly_anchored(blocks: list[Block]) -> bool:
    return sum(bool(b.anchor) for b in blocks) * 2 > len(blocks)


def align_documents(
    german: DocumentTable, french: DocumentTable, drops: Counter[str]
) -> list[CandidatePair]:
    """Candidate pairs from every document present in both languages."""
    pairs: list[CandidatePair] = []
    for key in sorted(german.keys() & french.keys()):
        package, de_blocks = german[key]
        fr_blocks = french[key][1]
        if _mostly_anchored(de_blocks) and _mostly_anchored(fr_blocks):
            matched = align_by_anchor(de_blocks, fr_blocks)
        else:
            matched = align_by_sequence(de_blocks, fr_blocks)
        drops["docs: block without a partner"] += len(de_blocks) + len(fr_blocks) - 2 * len(matched)
        source = package_family(package)
        pairs += [CandidatePair(d.text, f.text, key, source) for d, f in matched]
    drops["docs: file in one language only"] += len(german.keys() ^ french.keys())
    return pairs
