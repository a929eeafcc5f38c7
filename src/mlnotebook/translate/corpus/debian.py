"""Fetching the source packages with apt, without installing them.

`apt-get download NAME...` writes each package's .deb into the current
directory, as any user, once the package lists exist (`apt-get update`). We
ask for the packages in small chunks on a few threads so the mirror serves
several at once, keep the .debs in a cache directory, and read each package's
version back from its file name (`name_version_arch.deb`, with `:` written
as `%3a`).

Where apt is missing (a machine that is not Debian-based) the builder cannot
run at all; the error says so and points at the user-data formats instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

from mlnotebook.errors import UserError

APT_LISTS_DIR = Path("/var/lib/apt/lists")
_CHUNK_SIZE = 8
_DOWNLOAD_THREADS = 4

NO_APT_MESSAGE = (
    "building the default German-French corpus needs a Debian-based system with apt "
    "(apt-get not found); pass your own corpus instead: a TSV file (German<TAB>French), "
    "two line-aligned files, or a directory with train.de/train.fr, valid.de/valid.fr, "
    "test.de/test.fr"
)


def data_home() -> Path:
    """Where mlnotebook keeps downloaded data: $MLNB_DATA_DIR, else the XDG data dir."""
    if override := os.environ.get("MLNB_DATA_DIR"):
        return Path(override)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "mlnotebook"


def default_corpus_dir() -> Path:
    return data_home() / "debian-de-fr"


def _read_list(filename: str) -> list[str]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def documentation_packages() -> list[str]:
    """Packages whose German and French documentation translate one English original."""
    return _read_list("docs_pkgs.txt")


def gettext_packages() -> list[str]:
    """Packages with German and French message catalogs (best yield per MB on bookworm)."""
    return _read_list("gettext_pkgs.txt")


def require_apt() -> str:
    """Path of apt-get, or a UserError saying what to do without it."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise UserError(NO_APT_MESSAGE)
    return apt_get


def _apt_lists_present(lists_dir: Path = APT_LISTS_DIR) -> bool:
    return lists_dir.is_dir() and any(lists_dir.glob("*_Packages*"))


def ensure_package_lists(apt_get: str) -> None:
    """Run `apt-get update` when the package lists have never been fetched."""
    if _apt_lists_present():
        return
    result = subprocess.run([apt_get, "update", "-qq"], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise UserError(f"apt-get update failed (run it once as root): {reason}")


def package_name_version(deb: Path) -> tuple[str, str]:
    """('libc-l10n', '2.36-9+deb12u10') from 'libc-l10n_2.36-9+deb12u10_all.deb'."""
    name, version, _arch = deb.name.removesuffix(".deb").split("_", 2)
    return name, unquote(version)


def cached_debs(deb_dir: Path) -> dict[str, Path]:
    """The newest cached .deb of each package in `deb_dir`, by package name."""
    newest: dict[str, Path] = {}
    for deb in sorted(deb_dir.glob("*.deb"), key=lambda p: p.stat().st_mtime):
        newest[package_name_version(deb)[0]] = deb
    return newest


def _apt_download(apt_get: str, names: Sequence[str], deb_dir: Path) -> list[str]:
    """Download `names` into `deb_dir`; return the names apt could not fetch."""
    command = [apt_get, "download", "-q"]
    if os.geteuid() == 0:
        # As root, apt drops to the `_apt` user, who may not write our cache dir.
        command += ["-o", "APT::Sandbox::User=root"]
    result = subprocess.run([*command, *names], cwd=deb_dir, capture_output=True, text=True)
    if result.returncode == 0:
        return []
    if len(names) == 1:
        return list(names)
    # One unknown name fails the whole call: retry one by one to find it.
    return [n for name in names for n in _apt_download(apt_get, [name], deb_dir)]


def download_packages(
    names: Sequence[str],
    deb_dir: Path,
    refresh: bool = False,
    on_chunk_done: Callable[[int], None] | None = None,
) -> tuple[dict[str, Path], list[str]]:
    """Fetch missing (or, with `refresh`, all) packages; return ({name: .deb}, missing names)."""
    apt_get = require_apt()
    deb_dir.mkdir(parents=True, exist_ok=True)
    have = {} if refresh else cached_debs(deb_dir)
    todo = [name for name in names if name not in have]
    if todo:
        ensure_package_lists(apt_get)
    chunks = [todo[i : i + _CHUNK_SIZE] for i in range(0, len(todo), _CHUNK_SIZE)]
    missing: list[str] = []
    with ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool:
        for chunk, failed in zip(
            chunks, pool.map(lambda c: _apt_download(apt_get, c, deb_dir), chunks), strict=True
        ):
            missing += failed
            if on_chunk_done:
                on_chunk_done(len(chunk))
    _remove_superseded(deb_dir)
    found = cached_debs(deb_dir)
    return {name: found[name] for name in names if name in found}, missing


def _remove_superseded(deb_dir: Path) -> None:
    """Delete older versions of a package once a newer .deb has arrived."""
    keep = set(cached_debs(deb_dir).values())
    for deb in deb_dir.glob("*.deb"):
        if deb not in keep:
            deb.unlink()
