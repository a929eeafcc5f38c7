"""Builders for tiny fake Debian packages and gettext catalogs (no downloads in tests)."""

from __future__ import annotations

import gzip
import io
import lzma
import struct
import tarfile
from pathlib import Path


def mo_bytes(messages: dict[str, str]) -> bytes:
    """A GNU .mo catalog: magic, counts, two (length, offset) tables, NUL-ended strings."""
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    ids = sorted(entries)
    originals = [i.encode() for i in ids]
    translations = [entries[i].encode() for i in ids]
    count = len(ids)
    header_size = 7 * 4
    strings_start = header_size + 16 * count
    blob, original_table, translation_table = b"", [], []
    for table, strings in ((original_table, originals), (translation_table, translations)):
        for string in strings:
            table.append((len(string), strings_start + len(blob)))
            blob += string + b"\0"
    header = struct.pack(
        "<7I", 0x950412DE, 0, count, header_size, header_size + 8 * count, 0, strings_start
    )
    tables = b"".join(struct.pack("<2I", *e) for e in original_table + translation_table)
    return header + tables + blob


def tar_bytes(files: dict[str, bytes]) -> bytes:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return stream.getvalue()


def write_deb(
    directory: Path, name: str, version: str, files: dict[str, bytes], compression: str = "xz"
) -> Path:
    """A .deb (ar archive) whose data.tar holds `files`, compressed with xz, gz or none."""
    data = tar_bytes(files)
    if compression == "xz":
        data = lzma.compress(data)
    elif compression == "gz":
        data = gzip.compress(data)
    suffix = {"xz": ".xz", "gz": ".gz", "none": ""}[compression]
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(tar_bytes({"control": b"Package: x\n"}))),
        (f"data.tar{suffix}", data),
    ]
    out = b"!<arch>\n"
    for member, payload in members:
        out += f"{member:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode()
        out += payload + (b"\n" if len(payload) % 2 else b"")
    path = directory / f"{name}_{version.replace(':', '%3a')}_all.deb"
    path.write_bytes(out)
    return path
