"""The v2 builder on fake packages: the yardstick unchanged, no leakage, every pair accounted."""

from __future__ import annotations

import gzip
from itertools import product

import pytest
from rich.console import Console

from mlnotebook.translate.corpus import debian
from mlnotebook.translate.corpus.build import build_corpus
from mlnotebook.translate.corpus.v2 import build_corpus_v2, language_id
from mlnotebook.translate.corpus.v2.pair_filters import side_key
from mlnotebook.translate.corpus.v2.yardstick import read_pairs
from mlnotebook.translate.user_data import load_corpus
from tests.translate.corpus_fakes import mo_bytes, write_deb

_DE_ADJECTIVES = "rote blaue grüne gelbe schwarze weiße große kleine alte neue".split()
_FR_ADJECTIVES = "rouge bleue verte jaune noire blanche grande petite vieille nouvelle".split()
_DE_NOUNS = "Katze Blume Tür Lampe Straße Kirche Brücke Wolke Tasche Uhr".split()
_FR_NOUNS = "chatte fleur porte lampe rue église passerelle nuée sacoche horloge".split()
_DE_VERBS = "schläft wartet singt tanzt lacht".split()
_FR_VERBS = "dort attend chante danse rit".split()


def _software_messages() -> tuple[dict[str, str], dict[str, str]]:
    """100 distinct noun phrases, plus an identical pair and a French side in English."""
    german, french = {}, {}
    for (i, adjective), (j, noun) in product(enumerate(_DE_ADJECTIVES), enumerate(_DE_NOUNS)):
        msgid = f"the {adjective} {noun}"
        german[msgid] = f"die {adjective} {noun}"
        french[msgid] = f"la {_FR_NOUNS[j]} {_FR_ADJECTIVES[i]}"
    german["ps aux"], french["ps aux"] = "ps -ef", "ps -ef"
    german["Console tips"], french["Console tips"] = "Tipps für die Konsole", "The console tips"
    return german, french


def _story_messages() -> tuple[dict[str, str], dict[str, str]]:
    """500 distinct story sentences for the general catalog."""
    german, french = {}, {}
    combinations = product(enumerate(_DE_ADJECTIVES), enumerate(_DE_NOUNS), enumerate(_DE_VERBS))
    for (i, adjective), (j, noun), (k, verb) in combinations:
        msgid = f"The {adjective} {noun} {verb}."
        german[msgid] = f"Die {adjective} {noun} {verb} im Wald."
        french[msgid] = f"La {_FR_NOUNS[j]} {_FR_ADJECTIVES[i]} {_FR_VERBS[k]} dans la forêt."
    return german, french


def _dictionary_files() -> dict[str, bytes]:
    entries = ["00-database-info\nfake\n", "Baum /baʊ̯m/ <n, masc>\narbre\n"]
    entries.append("Katze /ˈkat͡sə/ <n, fem>\nchat, chatte\nein Haustier\n")
    data, index = b"", []
    for entry in entries:
        raw = entry.encode()
        headword = entry.split(" ", 1)[0].split("\n", 1)[0].lower()
        index.append(f"{headword}\t{_base64(len(data))}\t{_base64(len(raw))}")
        data += raw
    return {
        "usr/share/dictd/freedict-deu-fra.index": ("\n".join(index) + "\n").encode(),
        "usr/share/dictd/freedict-deu-fra.dict.dz": gzip.compress(data),
    }


def _base64(number: int) -> str:
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return digits[number // 64] + digits[number % 64] if number >= 64 else digits[number]


def _fake_scores(text: str) -> dict[str, float]:
    return {"de": 0.0, "fr": 0.0, "en": 50.0 if "console tips" in text else -50.0}


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    debs = tmp_path / "debs-src"
    debs.mkdir()
    app_de, app_fr = _software_messages()
    story_de, story_fr = _story_messages()
    locale = "usr/share/games/wesnoth/1.16/locale/{}/LC_MESSAGES/wesnoth-httt.mo"
    made = {
        "help-de": write_deb(debs, "help-de", "1.0", {"usr/share/help/de/a.html": b"<p>Ja.</p>"}),
        "help-fr": write_deb(debs, "help-fr", "1.0", {"usr/share/help/fr/a.html": b"<p>Oui.</p>"}),
        "app-l10n": write_deb(
            debs,
            "app-l10n",
            "2:3.1",
            {
                "usr/share/locale/de/LC_MESSAGES/app.mo": mo_bytes(app_de),
                "usr/share/locale/fr/LC_MESSAGES/app.mo": mo_bytes(app_fr),
            },
        ),
        "wesnoth-1.16-httt": write_deb(
            debs,
            "wesnoth-1.16-httt",
            "1:1.16.9-1",
            {locale.format("de"): mo_bytes(story_de), locale.format("fr"): mo_bytes(story_fr)},
        ),
        "dict-freedict-deu-fra": write_deb(
            debs, "dict-freedict-deu-fra", "2022.12.07-2", _dictionary_files()
        ),
    }

    def fake_download(names, deb_dir, refresh=False, on_chunk_done=None):
        found = {name: made[name] for name in names if name in made}
        return found, [name for name in names if name not in made]

    monkeypatch.setattr(debian, "download_packages", fake_download)
    monkeypatch.setattr(debian, "documentation_packages", lambda: ["help-de", "help-fr"])
    monkeypatch.setattr(debian, "gettext_packages", lambda: ["app-l10n"])
    monkeypatch.setattr(language_id, "langid_scores", _fake_scores)
    monkeypatch.setenv("MLNB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _snapshot(directory):
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir() if p.is_file()
    }


def _build_both(tmp_path):
    quiet = Console(quiet=True)
    default = build_corpus(tmp_path / "default", console=quiet)
    before = _snapshot(default.directory)
    v2 = build_corpus_v2(tmp_path / "v2", console=quiet, yardstick_dir=tmp_path / "default")
    return default, before, v2


def test_yardstick_is_copied_byte_for_byte_and_the_default_is_untouched(fake_packages):
    default, before, v2 = _build_both(fake_packages)
    yardstick = (default.directory / "test.tsv").read_bytes()
    assert yardstick and (v2.directory / "test.tsv").read_bytes() == yardstick
    assert _snapshot(default.directory) == before
    assert v2.manifest["splits"]["test"] == default.manifest["splits"]["test"]


def test_no_training_side_in_any_held_out_split(fake_packages):
    _, _, v2 = _build_both(fake_packages)
    train = read_pairs(v2.directory / "train.tsv")
    train_sides = {side for pair in train for side in pair}
    train_keys = {side_key(side) for side in train_sides}
    for name in ("test", "test-clean", "test-general", "valid"):
        held_out = read_pairs(v2.directory / f"{name}.tsv")
        assert held_out or name == "test-clean"
        for pair in held_out:
            assert not set(pair) & train_sides, (name, pair)
            assert not {side_key(side) for side in pair} & train_keys, (name, pair)


def test_manifest_accounts_for_every_candidate(fake_packages):
    _, _, v2 = _build_both(fake_packages)
    manifest = v2.manifest
    drops = manifest["drops"]
    candidates = sum(v for k, v in drops.items() if k.startswith("candidates:"))
    dropped = sum(v for k, v in drops.items() if k.startswith(("clean", "split v2:")))
    written = sum(manifest["splits"][name] for name in ("train", "valid", "test-general"))
    assert written + dropped == candidates
    assert drops["candidates: dictionary"] == 2
    assert drops["clean v2: identical sides"] == 1  # ps -ef
    assert drops["clean v2: French side is English"] == 1  # The console tips
    assert manifest["pairs_by_source"]["dict-freedict-deu-fra"] == 2
    assert ("Baum", "arbre") in read_pairs(v2.directory / "train.tsv")  # training only
    assert set(manifest["copy_baselines"]) >= {"test", "test-general", "valid"}
    assert manifest["yardstick"]["sha256"] == manifest["settings"]["yardstick_sha256"]
    assert manifest["licences_of_added_sources"]["freeciv-data"].startswith("GPL-2+")


def test_second_build_reuses_and_a_new_yardstick_rebuilds(fake_packages):
    _, _, first = _build_both(fake_packages)
    quiet = Console(quiet=True)
    again = build_corpus_v2(first.directory, console=quiet, yardstick_dir=fake_packages / "default")
    assert again.reused
    # A yardstick of the same size but other bytes (the default's own check is by size):
    yardstick = fake_packages / "default" / "test.tsv"
    yardstick.write_bytes(yardstick.read_bytes().replace(b"die", b"DIE", 1))
    rebuilt = build_corpus_v2(
        first.directory, console=quiet, yardstick_dir=fake_packages / "default"
    )
    assert not rebuilt.reused
    assert (first.directory / "test.tsv").read_bytes() == yardstick.read_bytes()


def test_loader_and_cli_know_default_v2(fake_packages, capsys):
    from mlnotebook.cli import main

    assert main(["data", "fetch", "default-v2"]) == 0
    out = capsys.readouterr().out
    assert "debian-de-fr-v2: built" in out and "copy baseline test-general" in out
    corpus = load_corpus("default-v2")
    default = load_corpus("default")
    assert corpus.test == default.test
    assert set(corpus.held_out) == {"test-clean", "test-general"}
    assert main(["data", "info", "default-v2"]) == 0
    out = capsys.readouterr().out
    assert "copy baseline test-general" in out and "--test" in out
