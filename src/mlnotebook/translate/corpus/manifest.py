"""The record written beside the corpus, and atomic writes of it and the TSVs.

`manifest.json` says what was built from what: the requested package names
and the versions actually fetched, pairs per source, drops per reason, the
size of each split, the cleaning settings, the builder version and how long
the build took. A later `mlnb data fetch` reuses the corpus only when the
manifest matches what it would build now (same builder version, same package
list, same settings) and the split files are still there with the recorded
sizes; anything else triggers a rebuild.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
BUILDER_VERSION = 1


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_tsv(path: Path, pairs: Iterable[tuple[str, str]]) -> int:
    """German<TAB>French per line, no header; returns the byte size written."""
    text = "".join(f"{de}\t{fr}\n" for de, fr in pairs)
    _write_atomic(path, text)
    return path.stat().st_size


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    _write_atomic(directory / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest in `directory`, or None when absent or unreadable."""
    try:
        return json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def manifest_matches(
    manifest: dict[str, Any] | None,
    directory: Path,
    packages: list[str],
    settings: dict[str, Any],
) -> bool:
    """True when the corpus in `directory` is what a build with these inputs would produce."""
    if not manifest or manifest.get("builder_version") != BUILDER_VERSION:
        return False
    if manifest.get("requested_packages") != packages or manifest.get("settings") != settings:
        return False
    files = manifest.get("files", {})
    return bool(files) and all(
        (directory / name).is_file() and (directory / name).stat().st_size == size
        for name, size in files.items()
    )
