"""The yardstick file: read exactly as stored, copied byte for byte."""

from __future__ import annotations

import pytest

from mlnotebook.translate.corpus.v2.yardstick import copy_yardstick, file_sha256, read_pairs


def test_read_pairs_keeps_sides_exactly_and_splits_on_newlines_only(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text(" Ja\tOui \nZeile\u2028zwei\x1c\tligne deux\n", encoding="utf-8")
    assert read_pairs(path) == [(" Ja", "Oui "), ("Zeile\u2028zwei\x1c", "ligne deux")]
    path.write_text("")
    assert read_pairs(path) == []


def test_read_pairs_rejects_a_line_without_one_tab(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("Ja\tOui\nkein Tab\n")
    with pytest.raises(ValueError, match=r"test\.tsv:2: expected German<TAB>French"):
        read_pairs(path)


def test_copy_is_byte_identical_and_replaces_an_old_copy(tmp_path):
    source, target = tmp_path / "default", tmp_path / "v2"
    source.mkdir()
    (source / "test.tsv").write_bytes("Größe\tTaille\r\n\tx\n".encode())
    target.mkdir()
    (target / "test.tsv").write_text("old\tvieux\n")
    digest = copy_yardstick(source, target)
    assert (target / "test.tsv").read_bytes() == (source / "test.tsv").read_bytes()
    assert digest == file_sha256(source / "test.tsv")
    assert [p.name for p in target.iterdir()] == ["test.tsv"]  # no temporary left behind
