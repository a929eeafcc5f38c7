"""The corpus builder: packages in, train/valid/test TSVs and a manifest out.

The recipe, one function per step:
1. `download_packages`: `apt-get download` the documentation and catalog
   packages into a cache (skipped for packages already there).
2. `extract_package` (in worker processes, one package at a time): read
   `data.tar` out of each .deb, keep only German/French documents and `.mo`
   catalogs, cut documents into blocks and catalogs into {msgid: text}.
3. `align_documents` and `pair_catalogs`: German-French candidate pairs.
4. `clean_pairs`: normalise, filter, de-duplicate (every drop counted).
5. `split_pairs`: hash the group, remove valid/test sides seen in train.
6. write the TSVs and `manifest.json` atomically.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlnotebook.translate.corpus import debian
from mlnotebook.translate.corpus.clean import CleaningConfig, clean_pairs
from mlnotebook.translate.corpus.deb_archive import iter_data_files
from mlnotebook.translate.corpus.docs_align import DocumentTable, align_documents, document_key
from mlnotebook.translate.corpus.gettext_pairs import (
    CatalogTable,
    catalog_key,
    pair_catalogs,
    read_catalog,
)
from mlnotebook.translate.corpus.manifest import (
    BUILDER_VERSION,
    manifest_matches,
    read_manifest,
    write_manifest,
    write_tsv,
)
from mlnotebook.translate.corpus.markup_blocks import Block, document_blocks
from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.split import SPLITS, split_pairs


@dataclass
class PackageContent:
    """What one .deb contributes: documents and catalogs, keyed by (language, key)."""

    name: str
    version: str
    documents: dict[tuple[str, str], list[Block]] = field(default_factory=dict)
    catalogs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    drops: Counter[str] = field(default_factory=Counter)


@dataclass
class BuildResult:
    directory: Path
    manifest: dict[str, Any]
    reused: bool


def extract_package(deb: Path, with_documents: bool) -> PackageContent:
    """Blocks of German/French documents (if asked) and German/French catalogs of one .deb."""
    name, version = debian.package_name_version(deb)
    content = PackageContent(name, version)

    def wanted(path: str) -> bool:
        return catalog_key(path) is not None or (with_documents and document_key(path) is not None)

    for path, data in iter_data_files(deb, wanted):
        if (catalog := catalog_key(path)) is not None:
            try:
                content.catalogs[catalog] = read_catalog(data)
            except (OSError, ValueError, UnicodeDecodeError, LookupError):
                content.drops["gettext: unreadable catalog"] += 1
        elif (document := document_key(path)) is not None:
            content.documents[document] = document_blocks(path, data)
    return content


def _merge(
    contents: list[PackageContent], drops: Counter[str]
) -> tuple[dict[str, DocumentTable], dict[str, CatalogTable]]:
    """Per-language tables of documents and catalogs over all packages."""
    documents: dict[str, DocumentTable] = {"de": {}, "fr": {}}
    catalogs: dict[str, CatalogTable] = {"de": {}, "fr": {}}
    for content in sorted(contents, key=lambda c: c.name):
        drops.update(content.drops)
        for (lang, key), blocks in content.documents.items():
            documents[lang].setdefault(key, (content.name, blocks))
        for (lang, key), catalog in content.catalogs.items():
            if key in catalogs[lang]:
                drops["gettext: same domain in two packages (first kept)"] += 1
            catalogs[lang].setdefault(key, (content.name, catalog))
    return documents, catalogs


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield progress


def _extract_all(
    debs: dict[str, Path], documentation: set[str], progress: Progress
) -> list[PackageContent]:
    task = progress.add_task("unpack", total=len(debs))
    # Biggest first, so the last worker is not left alone with LibreOffice's help.
    order = sorted(debs.items(), key=lambda item: -item[1].stat().st_size)
    workers = max(1, min(4, os.cpu_count() or 1))
    contents = []
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(extract_package, deb, name in documentation) for name, deb in order]
        for future in as_completed(futures):
            contents.append(future.result())
            progress.advance(task)
    return contents


def builder_fingerprint() -> str:
    """SHA-1 over this package's source, so a changed builder never reuses an old corpus."""
    digest = hashlib.sha1()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _settings(cleaning: CleaningConfig) -> dict[str, Any]:
    return {
        "cleaning": asdict(cleaning),
        "valid_percent": 2,
        "test_percent": 2,
        "builder_fingerprint": builder_fingerprint(),
    }


def _candidate_pairs(
    contents: list[PackageContent], drops: Counter[str]
) -> tuple[list[CandidatePair], list[CandidatePair]]:
    documents, catalogs = _merge(contents, drops)
    doc_pairs = align_documents(documents["de"], documents["fr"], drops)
    catalog_pairs = pair_catalogs(catalogs["de"], catalogs["fr"], drops)
    return doc_pairs, catalog_pairs


def _manifest(
    packages: list[str],
    contents: list[PackageContent],
    missing: list[str],
    splits: dict[str, list[CandidatePair]],
    drops: Counter[str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    kept = [pair for split in splits.values() for pair in split]
    return {
        "builder_version": BUILDER_VERSION,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requested_packages": packages,
        "packages": {c.name: c.version for c in sorted(contents, key=lambda c: c.name)},
        "missing_packages": missing,
        "pairs_by_source": dict(Counter(p.source for p in kept).most_common()),
        "drops": dict(sorted(drops.items())),
        "splits": {name: len(pairs) for name, pairs in splits.items()},
        "settings": settings,
    }


def build_corpus(
    directory: Path | None = None,
    force: bool = False,
    console: Console | None = None,
    cleaning: CleaningConfig | None = None,
) -> BuildResult:
    """Fetch the Debian packages and build the German-French corpus in `directory`."""
    directory = directory or debian.default_corpus_dir()
    console = console or Console(stderr=True)
    cleaning = cleaning or CleaningConfig()
    documentation, catalog_packages = debian.documentation_packages(), debian.gettext_packages()
    packages = documentation + catalog_packages
    settings = _settings(cleaning)
    existing = read_manifest(directory)
    if not force and manifest_matches(existing, directory, packages, settings):
        return BuildResult(directory, existing or {}, reused=True)

    debian.require_apt()  # fail with the one-line explanation before any progress bar
    started = time.perf_counter()
    timings: dict[str, float] = {}
    drops: Counter[str] = Counter()
    with _progress(console) as progress:
        download = progress.add_task("download", total=len(packages))
        debs, missing = debian.download_packages(
            packages,
            directory / "debs",
            refresh=force,
            on_chunk_done=lambda n: progress.advance(download, n),
        )
        progress.update(download, completed=len(packages))
        timings["download"] = time.perf_counter() - started
        contents = _extract_all(debs, set(documentation), progress)
        timings["unpack"] = time.perf_counter() - started - sum(timings.values())
    with console.status("aligning, cleaning and splitting"):
        doc_pairs, catalog_pairs = _candidate_pairs(contents, drops)
        drops["candidates: documentation"] = len(doc_pairs)
        drops["candidates: gettext"] = len(catalog_pairs)
        splits = split_pairs(clean_pairs(doc_pairs + catalog_pairs, drops, cleaning), drops)
        timings["align_clean_split"] = time.perf_counter() - started - sum(timings.values())
    manifest = _manifest(packages, contents, missing, splits, drops, settings)
    manifest["files"] = {
        f"{name}.tsv": write_tsv(directory / f"{name}.tsv", ((p.de, p.fr) for p in pairs))
        for name, pairs in splits.items()
    }
    timings["total"] = time.perf_counter() - started
    manifest["seconds"] = {step: round(t, 1) for step, t in timings.items()}
    write_manifest(directory, manifest)
    return BuildResult(directory, manifest, reused=False)


__all__ = ["SPLITS", "BuildResult", "build_corpus", "extract_package"]
