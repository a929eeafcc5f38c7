"""Loading user corpora: TSV, aligned files, Multi30k folders; every skip reported."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnotebook.errors import UserError
from mlnotebook.translate.user_data import LoadLimits, LoadReport, load_corpus, read_tsv

# One side of a pair: printable text without TAB or line breaks, not blank.
_side = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\t\x85"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() and s == s.strip())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(_side, _side), max_size=20))
def test_tsv_round_trip(tmp_path, pairs):
    path = tmp_path / "c.tsv"
    path.write_text("".join(f"{d}\t{f}\n" for d, f in pairs), encoding="utf-8")
    report = LoadReport("t")
    assert read_tsv(path, report) == pairs
    assert not report.skipped


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=15
    )
)
def test_every_tsv_line_is_kept_or_counted(tmp_path, lines):
    path = tmp_path / "c.tsv"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    report = LoadReport("t")
    kept = read_tsv(path, report, LoadLimits(max_chars=8, max_tokens=3))
    assert len(kept) + sum(report.skipped.values()) == len(lines)


def test_tsv_skips_are_counted_with_line_numbers(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_bytes(
        b"gut\tbon\n" + b"\xff\xfe\tx\n" + b"a\tb\tc\n" + b"leer\t \n" + b"lang lang\tx\n"
    )
    report = LoadReport(str(path))
    assert read_tsv(path, report, LoadLimits(max_tokens=1)) == [("gut", "bon")]
    assert report.skipped["invalid UTF-8"] == 1
    assert report.examples["invalid UTF-8"] == [f"{path}:2"]
    assert report.skipped["not exactly one TAB"] == 1
    assert report.skipped["empty side"] == 1
    assert sum(report.skipped.values()) == 4
    assert "skipped 1 line(s): not exactly one TAB" in report.summary()


def test_aligned_files_with_different_lengths_name_both(tmp_path):
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    (tmp_path / "a.fr").write_text("un\n")
    with pytest.raises(UserError, match=r"a\.de has 2 lines.*a\.fr has 1"):
        load_corpus((tmp_path / "a.de", tmp_path / "a.fr"))


def test_multi30k_directory_layout(tmp_path):
    for stem, count in (("train", 30), ("val", 3), ("test2016", 4)):
        (tmp_path / f"{stem}.de").write_text("".join(f"de {stem} {i}\n" for i in range(count)))
        (tmp_path / f"{stem}.fr").write_text("".join(f"fr {stem} {i}\n" for i in range(count)))
    corpus = load_corpus(tmp_path)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (30, 3, 4)
    assert corpus.valid[0] == ("de val 0", "fr val 0")
    assert corpus.report.kept == {"train": 30, "valid": 3, "test": 4}


def test_builder_directory_with_extra_held_out_splits(tmp_path):
    for name, count in (("train", 5), ("valid", 2), ("test", 3), ("test-general", 4)):
        (tmp_path / f"{name}.tsv").write_text(
            "".join(f"de {name} {i}\tfr {i}\n" for i in range(count))
        )
    corpus = load_corpus(tmp_path)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (5, 2, 3)
    assert list(corpus.held_out) == ["test-general"] and len(corpus.held_out["test-general"]) == 4
    assert corpus.report.kept == {"train": 5, "valid": 2, "test": 3, "test-general": 4}
    assert load_corpus(tmp_path / "train.tsv").held_out == {}


def test_directory_without_train_files_is_explained(tmp_path):
    with pytest.raises(UserError, match=r"train\.tsv or train\.de"):
        load_corpus(tmp_path)


def test_single_file_is_split_by_hash_without_french_leaks(tmp_path):
    lines = [f"satz {i}\tphrase {i % 700}\n" for i in range(2000)]
    path = tmp_path / "all.tsv"
    path.write_text("".join(lines))
    corpus = load_corpus(path)
    train_fr = {fr for _, fr in corpus.train}
    assert all(fr not in train_fr for _, fr in corpus.valid + corpus.test)
    total = len(corpus.train) + len(corpus.valid) + len(corpus.test)
    assert total + corpus.report.skipped["French side also in train"] == 2000
    assert load_corpus(path).valid == corpus.valid  # deterministic


def test_toy_corpora_and_bad_specs():
    copy = load_corpus("toy:copy")
    assert all(de == fr for de, fr in copy.train)
    reverse = load_corpus("toy:reverse")
    assert all(de.split() == fr.split()[::-1] for de, fr in reverse.valid)
    with pytest.raises(UserError, match="toy:copy"):
        load_corpus("toy:nothing")
    with pytest.raises(UserError, match="no such file"):
        load_corpus("/does/not/exist.tsv")
