"""The whole builder on fake packages: TSVs, manifest, counts, reuse and --force."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from mlnotebook.translate.corpus import build as build_module
from mlnotebook.translate.corpus import debian
from mlnotebook.translate.corpus.build import build_corpus
from mlnotebook.translate.user_data import load_corpus
from tests.translate.corpus_fakes import mo_bytes, write_deb

_HELP = '<p id="p1">{a}</p><p id="p2">{b}</p>'
_MESSAGES_DE = {f"Item {i}": f"Eintrag Nummer {i}" for i in range(300)} | {"Open": "Öffnen"}
_MESSAGES_FR = {f"Item {i}": f"Entrée numéro {i}" for i in range(300)} | {"Open": "Open"}


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    debs = tmp_path / "debs-src"
    debs.mkdir()
    made = {
        "help-de": write_deb(
            debs,
            "help-de",
            "1.0",
            {
                "usr/share/help/de/a.html": _HELP.format(a="Ein Satz.", b="Noch einer.").encode(),
            },
        ),
        "help-fr": write_deb(
            debs,
            "help-fr",
            "1.0",
            {
                "usr/share/help/fr/a.html": _HELP.format(a="Une phrase.", b="Encore une.").encode(),
            },
        ),
        "app-l10n": write_deb(
            debs,
            "app-l10n",
            "2:3.1",
            {
                "usr/share/locale/de/LC_MESSAGES/app.mo": mo_bytes(_MESSAGES_DE),
                "usr/share/locale/fr/LC_MESSAGES/app.mo": mo_bytes(_MESSAGES_FR),
                "usr/share/locale/it/LC_MESSAGES/app.mo": mo_bytes({"Open": "Apri"}),
            },
            compression="gz",
        ),
    }
    calls = []

    def fake_download(names, deb_dir, refresh=False, on_chunk_done=None):
        calls.append(refresh)
        return {name: made[name] for name in names}, []

    monkeypatch.setattr(debian, "download_packages", fake_download)
    monkeypatch.setattr(debian, "documentation_packages", lambda: ["help-de", "help-fr"])
    monkeypatch.setattr(debian, "gettext_packages", lambda: ["app-l10n"])
    return calls


def test_build_writes_splits_and_an_honest_manifest(tmp_path, fake_packages):
    out = tmp_path / "corpus"
    result = build_corpus(out, console=Console(quiet=True))
    manifest = json.loads((out / "manifest.json").read_text())
    assert not result.reused and manifest == result.manifest
    assert manifest["packages"] == {"app-l10n": "2:3.1", "help-de": "1.0", "help-fr": "1.0"}
    assert manifest["pairs_by_source"]["help"] == 2
    assert manifest["pairs_by_source"]["app-l10n"] == 300
    assert manifest["drops"]["clean: untranslated (equals the English)"] == 1
    # Every candidate is either in a split or counted as dropped.
    candidates = (
        manifest["drops"]["candidates: documentation"] + manifest["drops"]["candidates: gettext"]
    )
    dropped = sum(v for k, v in manifest["drops"].items() if k.startswith(("clean:", "split:")))
    assert sum(manifest["splits"].values()) + dropped == candidates == 303
    corpus = load_corpus(out)
    assert {name: len(getattr(corpus, name)) for name in ("train", "valid", "test")} == (
        manifest["splits"]
    )
    assert ("Ein Satz.", "Une phrase.") in corpus.train + corpus.valid + corpus.test
    assert manifest["splits"]["valid"] > 0 and manifest["splits"]["test"] > 0


def test_second_build_reuses_and_force_rebuilds(tmp_path, fake_packages):
    out = tmp_path / "corpus"
    first = build_corpus(out, console=Console(quiet=True))
    second = build_corpus(out, console=Console(quiet=True))
    assert second.reused and second.manifest == first.manifest
    assert fake_packages == [False]  # the reuse did not even ask apt
    (out / "train.tsv").write_text("changed\tchangé\n")
    assert not build_corpus(out, console=Console(quiet=True)).reused  # size no longer matches
    assert not build_corpus(out, force=True, console=Console(quiet=True)).reused
    assert fake_packages == [False, False, True]


def test_cli_fetch_prints_the_split_sizes(tmp_path, fake_packages, capsys):
    from mlnotebook.cli import main

    assert main(["data", "fetch", "--dir", str(tmp_path / "c")]) == 0
    assert "built: train" in capsys.readouterr().out
    assert main(["data", "fetch", "--dir", str(tmp_path / "c")]) == 0
    assert "reused" in capsys.readouterr().out


def test_cli_without_apt_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    from mlnotebook.cli import main

    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    assert main(["data", "fetch", "--dir", str(tmp_path / "c")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "Debian-based system with apt" in error


def test_extract_ignores_other_languages(tmp_path):
    deb = write_deb(
        tmp_path,
        "x",
        "1",
        {
            "usr/share/locale/it/LC_MESSAGES/app.mo": mo_bytes({"Open": "Apri"}),
            "usr/share/locale/de/LC_MESSAGES/app.mo": b"not a catalog",
        },
    )
    content = build_module.extract_package(deb, with_documents=True)
    assert content.catalogs == {} and content.drops["gettext: unreadable catalog"] == 1
