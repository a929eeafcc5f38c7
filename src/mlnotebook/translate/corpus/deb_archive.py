"""Reading files out of a Debian package without installing it.

A `.deb` is an `ar` archive of three members: `debian-binary`, `control.tar.*`
and `data.tar.*`. The files the package would install live in `data.tar`,
compressed with xz (Debian's default), gzip, zstd (Ubuntu's default) or not
at all. We read the `ar` header ourselves, decompress the data member as a
stream and hand back only the tar members a caller asks for, so nothing is
written to disk and unwanted files (images, other languages) cost only the
time to skip over them.
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from mlnotebook.errors import UserError

_AR_MAGIC = b"!<arch>\n"
# An ar member header is 60 bytes: name 16, mtime 12, uid 6, gid 6, mode 8, size 10, magic 2.
_AR_HEADER_SIZE = 60


def read_ar_members(path: Path) -> dict[str, bytes]:
    """All members of the ar archive at `path`, by name (a .deb has three)."""
    data = path.read_bytes()
    if not data.startswith(_AR_MAGIC):
        raise UserError(f"{path}: not a Debian package (no ar header)")
    members: dict[str, bytes] = {}
    offset = len(_AR_MAGIC)
    while offset + _AR_HEADER_SIZE <= len(data):
        header = data[offset : offset + _AR_HEADER_SIZE]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = offset + _AR_HEADER_SIZE
        members[name] = data[start : start + size]
        # Members are aligned to even offsets: one padding byte after an odd size.
        offset = start + size + (size % 2)
    return members


def _zstd_stream(payload: bytes, origin: str) -> BinaryIO:
    """Decompress zstd with the `zstandard` package if present, else the `zstd` tool."""
    try:
        import zstandard  # type: ignore[import-not-found]

        return io.BytesIO(zstandard.ZstdDecompressor().decompressobj().decompress(payload))
    except ImportError:
        pass
    if shutil.which("zstd") is None:
        raise UserError(
            f"{origin}: data.tar is zstd-compressed; install the `zstandard` Python package "
            "or the `zstd` tool"
        )
    result = subprocess.run(["zstd", "-dc"], input=payload, capture_output=True, check=True)
    return io.BytesIO(result.stdout)


def open_data_tar(path: Path) -> BinaryIO:
    """The uncompressed `data.tar` stream of the .deb at `path`."""
    members = read_ar_members(path)
    for name, payload in members.items():
        if not name.startswith("data.tar"):
            continue
        suffix = name.removeprefix("data.tar")
        if suffix == ".xz":
            return lzma.open(io.BytesIO(payload))
        if suffix == ".gz":
            return gzip.open(io.BytesIO(payload))
        if suffix == ".zst":
            return _zstd_stream(payload, str(path))
        if suffix == "":
            return io.BytesIO(payload)
        raise UserError(f"{path}: unsupported compression {name!r} (expected xz, gz, zst)")
    raise UserError(f"{path}: no data.tar member (found {sorted(members)})")


def iter_data_files(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """Yield (path inside the package, contents) for each regular file `wanted` accepts.

    Paths are normalised without the leading `./`, e.g. `usr/share/man/de/man1/ls.1.gz`.
    """
    with open_data_tar(path) as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if not member.isfile() or not wanted(name):
                continue
            extracted = archive.extractfile(member)
            if extracted is not None:
                yield name, extracted.read()
