"""The v2 builder: v1's sources plus general text, cleaned twice, split around the yardstick.

The recipe, one function per step:
1. `build_corpus` (v1): make sure the default corpus exists; its `test.tsv`
   is the yardstick (reused as it is when up to date, never rebuilt by us).
2. download the v1 packages, the game packages and the dictionary into this
   corpus's own cache (`<dir>/debs`), so the default corpus's folder is only
   read.
3. extract and pair with the v1 steps (documents, gettext catalogs), and read
   the dictionary (`general_sources.read_dictionary_package`).
4. `clean_pairs` (v1 settings), then `refine_pairs` (identical sides, English
   sides, length ratio, near-duplicates).
5. `split_v2`: train, valid, test-general, with no held-out side in train.
6. `test-clean.tsv`: the yardstick's pairs that pass `refine_pairs`.
7. copy baselines of every held-out split; TSVs and `manifest.json`.

The v1 modules are imported, not changed: the default corpus's reuse check
hashes `corpus/*.py`, and editing them would make every machine rebuild it.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from mlnotebook.translate.corpus import debian
from mlnotebook.translate.corpus.build import (
    BuildResult,
    PackageContent,
    _candidate_pairs,  # the v1 steps, shared so both corpora pair text the same way
    _extract_all,
    _progress,
    build_corpus,
)
from mlnotebook.translate.corpus.clean import CleaningConfig, clean_pairs
from mlnotebook.translate.corpus.manifest import (
    BUILDER_VERSION,
    manifest_matches,
    read_manifest,
    write_manifest,
    write_tsv,
)
from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.v2.baselines import copy_baselines
from mlnotebook.translate.corpus.v2.general_sources import (
    DICTIONARY_PACKAGES,
    GENERAL_PACKAGES,
    LICENCES,
    read_dictionary_package,
)
from mlnotebook.translate.corpus.v2.held_out import GENERAL_PERCENTS, SPLITS, split_v2
from mlnotebook.translate.corpus.v2.language_id import LanguageJudge
from mlnotebook.translate.corpus.v2.pair_filters import RefineConfig, count_problems, refine_pairs
from mlnotebook.translate.corpus.v2.yardstick import TEST_FILE, copy_yardstick, read_pairs

SPEC = "default-v2"


def default_v2_dir() -> Path:
    return debian.data_home() / "debian-de-fr-v2"


@dataclass(frozen=True)
class V2Config:
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)  # v1's first pass, unchanged
    refine: RefineConfig = field(default_factory=RefineConfig)


@dataclass
class _Sources:
    """The package names of each kind, in download order."""

    documentation: list[str]
    catalogs: list[str]
    general: list[str] = field(default_factory=lambda: list(GENERAL_PACKAGES))
    dictionary: list[str] = field(default_factory=lambda: list(DICTIONARY_PACKAGES))

    @property
    def all(self) -> list[str]:
        return self.documentation + self.catalogs + self.general + self.dictionary


def builder_fingerprint() -> str:
    """SHA-1 over the v1 and v2 builder sources."""
    digest = hashlib.sha1()
    corpus_dir = Path(__file__).parent.parent
    for source in sorted([*corpus_dir.glob("*.py"), *Path(__file__).parent.glob("*.py")]):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _settings(config: V2Config, yardstick_sha256: str) -> dict[str, Any]:
    return {
        "cleaning": asdict(config.cleaning),
        "refine": asdict(config.refine),
        "general_split_percents": GENERAL_PERCENTS,
        "yardstick_sha256": yardstick_sha256,
        "builder_fingerprint": builder_fingerprint(),
    }


def _download_and_extract(
    sources: _Sources, directory: Path, force: bool, console: Console
) -> tuple[list[PackageContent], list[CandidatePair], list[str]]:
    """Package contents (documents, catalogs), dictionary pairs, and the names apt lacked."""
    names = sources.all
    with _progress(console) as progress:
        task = progress.add_task("download", total=len(names))
        debs, missing = debian.download_packages(
            names,
            directory / "debs",
            refresh=force,
            on_chunk_done=lambda n: progress.advance(task, n),
        )
        progress.update(task, completed=len(names))
        dictionaries = {name: debs.pop(name) for name in sources.dictionary if name in debs}
        contents = _extract_all(debs, set(sources.documentation), progress)
    word_pairs = [
        pair for name, deb in dictionaries.items() for pair in read_dictionary_package(deb, name)
    ]
    versions = [debian.package_name_version(deb) for deb in dictionaries.values()]
    contents += [PackageContent(name, version) for name, version in versions]
    return contents, word_pairs, missing


def _cleaned_pairs(
    contents: list[PackageContent],
    word_pairs: list[CandidatePair],
    config: V2Config,
    judge: LanguageJudge,
    drops: Counter[str],
) -> list[CandidatePair]:
    doc_pairs, catalog_pairs = _candidate_pairs(contents, drops)
    general = frozenset(GENERAL_PACKAGES)
    drops["candidates: documentation"] = len(doc_pairs)
    drops["candidates: gettext (software)"] = sum(p.source not in general for p in catalog_pairs)
    drops["candidates: gettext (general)"] = sum(p.source in general for p in catalog_pairs)
    drops["candidates: dictionary"] = len(word_pairs)
    candidates = doc_pairs + catalog_pairs + word_pairs
    cleaned = clean_pairs(candidates, drops, config.cleaning)
    return refine_pairs(cleaned, drops, config.refine, judge)


def _test_clean(
    yardstick: list[tuple[str, str]], config: V2Config, judge: LanguageJudge
) -> tuple[list[CandidatePair], Counter[str]]:
    drops: Counter[str] = Counter()
    pairs = [CandidatePair(de, fr, "", "yardstick") for de, fr in yardstick]
    return refine_pairs(pairs, drops, config.refine, judge), drops


def _manifest(
    sources: _Sources,
    contents: list[PackageContent],
    missing: list[str],
    splits: dict[str, list[Any]],
    drops: Counter[str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    written = [pair for name in SPLITS for pair in splits[name]]  # the yardstick has no sources
    return {
        "builder_version": BUILDER_VERSION,
        "corpus": SPEC,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requested_packages": sources.all,
        "packages": {c.name: c.version for c in sorted(contents, key=lambda c: c.name)},
        "missing_packages": missing,
        "licences_of_added_sources": LICENCES,
        "pairs_by_source": dict(Counter(pair.source for pair in written).most_common()),
        "drops": dict(sorted(drops.items())),
        "splits": {name: len(pairs) for name, pairs in splits.items()},
        "settings": settings,
    }


def _write_splits(directory: Path, splits: dict[str, list[Any]]) -> dict[str, int]:
    """Every split but the copied yardstick as German<TAB>French; {file: bytes}."""
    files = {}
    for name, pairs in splits.items():
        if name != "test":
            path = directory / f"{name}.tsv"
            files[path.name] = write_tsv(path, ((pair[0], pair[1]) for pair in pairs))
    files[TEST_FILE] = (directory / TEST_FILE).stat().st_size
    return files


def build_corpus_v2(
    directory: Path | None = None,
    force: bool = False,
    console: Console | None = None,
    yardstick_dir: Path | None = None,
    config: V2Config | None = None,
) -> BuildResult:
    """Build (or reuse) the v2 corpus in `directory`; the yardstick comes from `yardstick_dir`.

    `yardstick_dir` is the default corpus's folder (built there first if absent).
    """
    directory = directory or default_v2_dir()
    console = console or Console(stderr=True)
    config = config or V2Config()
    default = build_corpus(yardstick_dir, console=console)
    yardstick_file = default.directory / TEST_FILE
    sources = _Sources(debian.documentation_packages(), debian.gettext_packages())
    settings = _settings(config, hashlib.sha256(yardstick_file.read_bytes()).hexdigest())
    existing = read_manifest(directory)
    if not force and manifest_matches(existing, directory, sources.all, settings):
        return BuildResult(directory, existing or {}, reused=True)

    debian.require_apt()
    started = time.perf_counter()
    contents, word_pairs, missing = _download_and_extract(sources, directory, force, console)
    drops: Counter[str] = Counter()
    judge = LanguageJudge(config.refine.language)
    with console.status("aligning, cleaning (two passes) and splitting"):
        cleaned = _cleaned_pairs(contents, word_pairs, config, judge, drops)
        yardstick = read_pairs(yardstick_file)
        general, dictionary = frozenset(GENERAL_PACKAGES), frozenset(DICTIONARY_PACKAGES)
        splits: dict[str, list[Any]] = split_v2(cleaned, yardstick, general, dictionary, drops)
        splits["test"] = yardstick
        splits["test-clean"], test_clean_drops = _test_clean(yardstick, config, judge)
        yardstick_problems = count_problems(yardstick, config.refine, judge)
    yardstick_sha256 = copy_yardstick(default.directory, directory)
    manifest = _manifest(sources, contents, missing, splits, drops, settings)
    manifest["yardstick"] = {
        "copied_from": str(yardstick_file),
        "sha256": yardstick_sha256,
        "problems_found": dict(sorted(yardstick_problems.items())),  # measured, not removed
    }
    manifest["test_clean_drops"] = dict(sorted(test_clean_drops.items()))
    held_out = {name: splits[name] for name in ("test", "test-clean", "test-general", "valid")}
    manifest["copy_baselines"] = copy_baselines(held_out)
    manifest["files"] = _write_splits(directory, splits)
    manifest["seconds"] = {"total": round(time.perf_counter() - started, 1)}
    write_manifest(directory, manifest)
    return BuildResult(directory, manifest, reused=False)
