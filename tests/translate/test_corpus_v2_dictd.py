"""The dictd reader: base-64 numbers, the index, FreeDict entries, and a dictionary .deb."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnotebook.translate.corpus.v2.dictd import (
    DictEntry,
    decode_number,
    dictionary_pairs,
    parse_entry,
    read_dictionary,
    read_index,
)
from mlnotebook.translate.corpus.v2.general_sources import read_dictionary_package
from tests.translate.corpus_fakes import write_deb

_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _encode(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 64)
        digits = _DIGITS[digit] + digits
        if number == 0:
            return digits


@pytest.mark.parametrize(("digits", "value"), [("A", 0), ("B", 1), ("/", 63), ("BW", 86)])
def test_decode_number(digits, value):
    assert decode_number(digits) == value


# No deadline or speed check: a loaded 2-core machine must not fail a parser test.
_RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_RELAXED
@given(st.integers(min_value=0, max_value=2**40))
def test_decode_number_inverts_the_encoding(number):
    assert decode_number(_encode(number)) == number


def test_decode_number_rejects_other_characters():
    with pytest.raises(ValueError, match="not a dictd base-64 number"):
        decode_number("B-W")


def test_parse_single_sense_entry():
    entry = parse_entry(
        "Dachbalken /ˈdaxˌbalkn̩/ <n, masc>\nentrait\nBalken einer Dachkonstruktion.\n"
    )
    assert entry == DictEntry("Dachbalken", "n", [["entrait"]])


def test_parse_numbered_senses_and_a_gloss_that_starts_with_a_number():
    body = (
        "verschlagen /fɛɐ̯ˈʃlaːɡn̩/ <adj>\n"
        "1. rusé, sournois, faux\n"
        "auf geschickte und verdeckte Art eigennützig\n"
        "2. tiède\n"
        "4. Fall einer Temperatur\n"  # a gloss: sense 4 cannot follow sense 2
    )
    assert parse_entry(body).senses == [["rusé", "sournois", "faux"], ["tiède"]]


def test_parse_strips_the_number_announcing_the_next_gloss():
    body = "a priori /a pʁiˈoːʁi/ <adv>\na priori 2.\nallgemein: grundsätzlich\n 3.\nrein\n"
    assert parse_entry(body) == DictEntry("a priori", "adv", [["a priori"]])


def test_parse_unnumbered_translation_then_numbered_gloss():
    body = "Akkusativ /ˈakuzaˌtiːf/ <n, masc>\naccusatif\n4. Fall der Deklination\n"
    assert parse_entry(body).senses == [["accusatif"]]


def test_pairs_one_per_sense_first_translation_affixes_skipped():
    entries = [
        DictEntry("verschlagen", "adj", [["rusé", "sournois"], ["tiède"]]),
        DictEntry("bar", "suffix", [["able", "ible"]]),
    ]
    pairs = dictionary_pairs(entries, "dict-x")
    assert [(p.de, p.fr, p.group, p.source) for p in pairs] == [
        ("verschlagen", "rusé", "dict:verschlagen", "dict-x"),
        ("verschlagen", "tiède", "dict:verschlagen", "dict-x"),
    ]


def _database(entries: list[str]) -> tuple[str, bytes]:
    """A dictd index and .dict for `entries`, with a metadata entry first."""
    bodies = ["00-database-info\nA test dictionary\n", *entries]
    data, index = b"", []
    for body in bodies:
        raw = body.encode("utf-8")
        headword = body.split(" ", 1)[0].split("\n", 1)[0].lower()
        index.append(f"{headword}\t{_encode(len(data))}\t{_encode(len(raw))}")
        data += raw
    return "\n".join(index) + "\n", data


_ENTRIES = [
    "Katze /ˈkat͡sə/ <n, fem>\nchat, chatte\nein Haustier\n",
    "quietschen /ˈkviːt͡ʃn̩/ <v>\ngrincer\neinen hohen Ton verursachen\n",
]


def test_read_index_skips_metadata_and_decodes_offsets():
    index, _ = _database(_ENTRIES)
    entries = read_index(index)
    assert [headword for headword, _, _ in entries] == ["katze", "quietschen"]
    assert entries[0][1] > 0  # after the metadata entry


def test_read_index_rejects_a_malformed_line():
    with pytest.raises(ValueError, match="line 1: expected 3 TAB-separated fields"):
        read_index("katze 0 10\n")


@pytest.mark.parametrize("compress", [False, True])
def test_read_dictionary_plain_or_dictzip(compress):
    index, data = _database(_ENTRIES)
    data = gzip.compress(data) if compress else data
    entries = read_dictionary(index, data)
    assert [(e.headword, e.senses) for e in entries] == [
        ("Katze", [["chat", "chatte"]]),
        ("quietschen", [["grincer"]]),
    ]


def test_read_dictionary_package(tmp_path):
    index, data = _database(_ENTRIES)
    deb = write_deb(
        tmp_path,
        "dict-freedict-deu-fra",
        "2022.12.07-2",
        {
            "usr/share/dictd/freedict-deu-fra.index": index.encode(),
            "usr/share/dictd/freedict-deu-fra.dict.dz": gzip.compress(data),
            "usr/share/doc/dict-freedict-deu-fra/copyright": b"CC-BY-SA-3.0",
        },
    )
    pairs = read_dictionary_package(deb, "dict-freedict-deu-fra")
    assert [(p.de, p.fr) for p in pairs] == [("Katze", "chat"), ("quietschen", "grincer")]


_WORD = st.text(alphabet="abcdeéèfghijklmnoöpqrstuüvwxyzß'", min_size=1, max_size=12)


@_RELAXED
@given(
    st.lists(st.lists(_WORD, min_size=1, max_size=4), min_size=1, max_size=5),
    st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=30), max_size=5),
)
def test_parse_entry_recovers_generated_senses(senses, glosses):
    lines = ["Wort /vɔʁt/ <n, neut>"]
    numbered = len(senses) > 1
    for number, sense in enumerate(senses, start=1):
        prefix = f"{number}. " if numbered else ""
        lines.append(prefix + ", ".join(sense))
        gloss = glosses[number - 1] if number <= len(glosses) else ""
        if gloss.strip():
            lines.append(gloss)
    entry = parse_entry("\n".join(lines) + "\n")
    assert entry.headword == "Wort" and entry.part_of_speech == "n"
    assert entry.senses == senses
