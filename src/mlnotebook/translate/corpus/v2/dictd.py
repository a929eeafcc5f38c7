"""Word pairs from a FreeDict dictionary in dictd format (`dict-freedict-deu-fra`).

A dictd database is two files. The `.index` has one line per headword:
`headword<TAB>offset<TAB>length`, the numbers written in dictd's base 64
(digits `A-Za-z0-9+/`, most significant first, so `"BW"` is 1 * 64 + 22 = 86).
The `.dict` (gzip-compatible `.dict.dz`) holds the entries; bytes
`[offset, offset + length)` are one entry. Headwords starting with `00` are
the database's own metadata.

FreeDict's German-French entries, generated from Wiktionary by WikDict, read:

    verschlagen /fɛɐ̯ˈʃlaːɡn̩/ <adj>          headword, IPA, part of speech
    1. rusé, sournois, faux, malicieux       sense 1: French translations
    auf geschickte und verdeckte Art ...     German gloss (ignored)
    2. tiède                                 sense 2
    ...

An entry with one sense has the translations unnumbered on the second line.
Numbered senses count up from 1; a gloss that happens to start with a number
("4. Fall (Kasus) ...") breaks the count and is not taken for a sense. Each
sense gives one pair: the headword and the sense's first translation (the
others are near-synonyms; one target per sense keeps the pairs consistent).
Affixes, letters and symbols are skipped: they are not words one translates.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass

from mlnotebook.translate.corpus.pairs import CandidatePair

_BASE64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NUMBERED_SENSE = re.compile(r"^(\d+)\. (.*)$")
_TRAILING_SENSE_NUMBER = re.compile(r"\s+\d+\.$")  # "a priori 2." announces the next gloss
_PART_OF_SPEECH = re.compile(r"<([^,>]*)")
SKIPPED_PARTS_OF_SPEECH = frozenset({"suffix", "prefix", "letter", "symbol"})


@dataclass(frozen=True)
class DictEntry:
    headword: str
    part_of_speech: str
    senses: list[list[str]]  # per sense, its French translations in order


def decode_number(digits: str) -> int:
    """A dictd base-64 number: 'BW' -> 86."""
    value = 0
    for digit in digits:
        position = _BASE64_DIGITS.find(digit)
        if position < 0:
            raise ValueError(f"{digits!r}: not a dictd base-64 number")
        value = value * 64 + position
    return value


def read_index(text: str) -> list[tuple[str, int, int]]:
    """(headword, offset, length) per index line; metadata entries (`00...`) left out."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"dictd index line {number}: expected 3 TAB-separated fields")
        headword, offset, length = fields
        if not headword.startswith("00"):
            entries.append((headword, decode_number(offset), decode_number(length)))
    return entries


def _header(line: str) -> tuple[str, str]:
    """('Aas', 'n') from 'Aas /aːs/ <n, neut>': the headword ends where IPA or POS begins."""
    headword = re.split(r"\s+[/<]", line, maxsplit=1)[0].strip()
    part = _PART_OF_SPEECH.search(line)
    return headword, part.group(1).strip() if part else ""


def _translations(line: str) -> list[str]:
    line = _TRAILING_SENSE_NUMBER.sub("", line.strip())
    return [word.strip() for word in line.split(",") if word.strip()]


def _senses(lines: list[str]) -> list[list[str]]:
    """Translation lists: the line after the header, or each line numbered 1., 2., ..."""
    if not lines:
        return []
    first = _NUMBERED_SENSE.match(lines[0])
    if first is None or first.group(1) != "1":
        return [_translations(lines[0])]
    senses = []
    for line in lines:
        numbered = _NUMBERED_SENSE.match(line)
        if numbered and int(numbered.group(1)) == len(senses) + 1:
            senses.append(_translations(numbered.group(2)))
    return senses


def parse_entry(body: str) -> DictEntry:
    """One entry's text -> headword, part of speech and senses."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty dictd entry")
    headword, part_of_speech = _header(lines[0])
    senses = [sense for sense in _senses(lines[1:]) if sense]
    return DictEntry(headword, part_of_speech, senses)


def read_dictionary(index_text: str, dictionary: bytes) -> list[DictEntry]:
    """Every entry of a dictd database; `dictionary` may be the gzip-compressed `.dict.dz`."""
    if dictionary[:2] == b"\x1f\x8b":
        dictionary = gzip.decompress(dictionary)
    entries = []
    for _headword, offset, length in read_index(index_text):
        body = dictionary[offset : offset + length].decode("utf-8", errors="replace")
        entries.append(parse_entry(body))
    return entries


def dictionary_pairs(entries: list[DictEntry], source: str) -> list[CandidatePair]:
    """One (headword, first translation) pair per sense, grouped by headword."""
    pairs = []
    for entry in entries:
        if entry.part_of_speech in SKIPPED_PARTS_OF_SPEECH:
            continue
        for sense in entry.senses:
            pairs.append(CandidatePair(entry.headword, sense[0], f"dict:{entry.headword}", source))
    return pairs
