"""The yardstick: the default corpus's test split, carried into v2 byte for byte.

Every model in this project is scored on the default corpus's `test.tsv`
(4,351 pairs when this was written). The v2 corpus does not re-derive it:
it copies that file as its own `test.tsv` and records its SHA-256, so a
score on v2's test split is a score on exactly the same text. The v2 build
then keeps every German and French side of it out of training.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

Pair = tuple[str, str]
TEST_FILE = "test.tsv"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_pairs(path: Path) -> list[Pair]:
    """(German, French) per line of a builder-written TSV, exactly as stored."""
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    pairs = []
    # Split on "\n" only: str.splitlines would also break at \x1c or U+2028 inside a side.
    for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
        de, tab, fr = line.partition("\t")
        if not tab or "\t" in fr:
            raise ValueError(f"{path}:{number}: expected German<TAB>French")
        pairs.append((de, fr))
    return pairs


def copy_yardstick(source_dir: Path, target_dir: Path) -> str:
    """Copy `source_dir/test.tsv` to `target_dir/test.tsv` atomically; return its SHA-256."""
    source = source_dir / TEST_FILE
    target_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target_dir, prefix=f".{TEST_FILE}.", suffix=".tmp")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.chmod(temporary, source.stat().st_mode & 0o777)
        os.replace(temporary, target_dir / TEST_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    digest = file_sha256(target_dir / TEST_FILE)
    if digest != file_sha256(source):
        raise OSError(f"{target_dir / TEST_FILE}: copy differs from {source}")
    return digest
