"""Loading a German-French corpus: the default one, or the user's own files.

Every source ends up as one `ParallelCorpus`: train, valid and test lists of
(German, French) pairs and a `LoadReport`. Accepted sources:

- `"default"`: the corpus built from Debian packages (built first if absent);
- `"default-v2"`: the cleaner, broader v2 corpus (`corpus/v2/`); its test split
  is the default corpus's, byte for byte, and it carries extra held-out splits;
- a directory holding `train.tsv`, `valid.tsv`, `test.tsv` (what the builder writes),
  and optionally extra held-out splits `test-*.tsv` (read into `held_out`);
- a directory in the Multi30k layout: `train.de`/`train.fr`, `val.*` or
  `valid.*`, `test.*` or `test2016.*`, each pair of files aligned line by line;
- a single TSV file (German TAB French per line);
- two line-aligned files, given as a [German path, French path] list or tuple;
- `"toy:copy"` or `"toy:reverse"`: synthetic pairs (the target is the source,
  or the source backwards) for smoke tests, generated from a fixed seed.

A single file or file pair is split by hashing each German sentence (the same
rule as the default corpus), so the split never depends on line order.

Nothing is dropped silently: lines that are not valid UTF-8, have an empty
side, are longer than the limits, or (in a TSV) do not hold exactly one TAB are
skipped and counted by reason in the report, with their first few locations.
Two aligned files with different line counts are an error, not a guess.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mlnotebook.errors import UserError
from mlnotebook.translate.corpus.split import split_of

Pair = tuple[str, str]
_EXAMPLES_PER_REASON = 5
# Accepted file stems per split in a Multi30k-style directory, in order of preference.
_SPLIT_STEMS = {"train": ("train",), "valid": ("valid", "val"), "test": ("test", "test2016")}


@dataclass(frozen=True)
class LoadLimits:
    max_chars: int = 1000  # a side with more characters is skipped as too long
    max_tokens: int = 200  # ... or with more white-space separated tokens


@dataclass
class LoadReport:
    """What was read, what was kept and, for every skipped line, why and where."""

    source: str
    kept: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def skip(self, reason: str, location: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples[reason]) < _EXAMPLES_PER_REASON:
            self.examples[reason].append(location)

    def summary(self) -> str:
        """A few human-readable lines for the caller to print."""
        kept = ", ".join(f"{name} {count:,}" for name, count in self.kept.items())
        lines = [f"{self.source}: kept {kept}"]
        for reason, count in self.skipped.most_common():
            where = ", ".join(self.examples[reason])
            lines.append(f"  skipped {count:,} line(s): {reason} (first at {where})")
        return "\n".join(lines)


@dataclass
class ParallelCorpus:
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    report: LoadReport
    held_out: dict[str, list[Pair]] = field(default_factory=dict)  # e.g. "test-general"


def _decoded_lines(path: Path, report: LoadReport) -> list[str | None]:
    """Each line of `path` decoded as UTF-8; None (and a counted skip) where that fails."""
    try:
        raw_lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    lines: list[str | None] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            report.skip("invalid UTF-8", f"{path}:{number}")
            lines.append(None)
    return lines


def _check_pair(de: str, fr: str, location: str, report: LoadReport, limits: LoadLimits) -> bool:
    de, fr = de.strip(), fr.strip()
    if not de or not fr:
        report.skip("empty side", location)
        return False
    too_long = any(
        len(side) > limits.max_chars or len(side.split()) > limits.max_tokens for side in (de, fr)
    )
    if too_long:
        report.skip(
            f"longer than {limits.max_chars} characters or {limits.max_tokens} tokens", location
        )
        return False
    return True


def read_tsv(path: Path, report: LoadReport, limits: LoadLimits = LoadLimits()) -> list[Pair]:
    """(German, French) pairs from a German<TAB>French file; bad lines counted in `report`."""
    pairs: list[Pair] = []
    for number, line in enumerate(_decoded_lines(path, report), start=1):
        if line is None:
            continue
        location = f"{path}:{number}"
        if line.count("\t") != 1:
            report.skip("not exactly one TAB", location)
            continue
        de, fr = line.split("\t")
        if _check_pair(de, fr, location, report, limits):
            pairs.append((de.strip(), fr.strip()))
    return pairs


def read_aligned(
    de_path: Path, fr_path: Path, report: LoadReport, limits: LoadLimits = LoadLimits()
) -> list[Pair]:
    """Pairs from two files aligned line by line (line n of one translates line n of the other)."""
    german, french = _decoded_lines(de_path, report), _decoded_lines(fr_path, report)
    if len(german) != len(french):
        raise UserError(
            f"line counts differ: {de_path} has {len(german)} lines, "
            f"{fr_path} has {len(french)}; the files must be aligned line by line"
        )
    pairs: list[Pair] = []
    for number, (de, fr) in enumerate(zip(german, french, strict=True), start=1):
        if de is None or fr is None:
            continue  # already counted as invalid UTF-8
        if _check_pair(de, fr, f"{de_path}:{number}", report, limits):
            pairs.append((de.strip(), fr.strip()))
    return pairs


def split_by_hash(
    pairs: list[Pair], report: LoadReport, valid_percent: int = 2, test_percent: int = 2
) -> dict[str, list[Pair]]:
    """Train/valid/test by the hash of the German side (stable under reordering).

    Equal German sentences share a split by construction; a valid/test pair whose
    French side also occurs in train is skipped (and counted) so nothing leaks.
    """
    splits: dict[str, list[Pair]] = {"train": [], "valid": [], "test": []}
    for pair in pairs:
        splits[split_of(pair[0], valid_percent, test_percent)].append(pair)
    train_french = {fr for _, fr in splits["train"]}
    for name in ("valid", "test"):
        kept = []
        for number, pair in enumerate(splits[name], start=1):
            if pair[1] in train_french:
                report.skip("French side also in train", f"{name} pair {number}")
            else:
                kept.append(pair)
        splits[name] = kept
    return splits


def _find_split_files(directory: Path, split: str) -> tuple[Path, Path] | None:
    for stem in _SPLIT_STEMS[split]:
        de, fr = directory / f"{stem}.de", directory / f"{stem}.fr"
        if de.is_file() and fr.is_file():
            return de, fr
    return None


def _load_directory(directory: Path, limits: LoadLimits) -> ParallelCorpus:
    report = LoadReport(str(directory))
    splits: dict[str, list[Pair]] = {}
    if (directory / "train.tsv").is_file():
        for name in _SPLIT_STEMS:
            tsv = directory / f"{name}.tsv"
            splits[name] = read_tsv(tsv, report, limits) if tsv.is_file() else []
        for tsv in sorted(directory.glob("test-*.tsv")):
            splits[tsv.stem] = read_tsv(tsv, report, limits)
    else:
        if _find_split_files(directory, "train") is None:
            raise UserError(
                f"{directory}: expected train.tsv or train.de + train.fr "
                "(with valid/val and test/test2016 beside them)"
            )
        for name in _SPLIT_STEMS:
            files = _find_split_files(directory, name)
            splits[name] = read_aligned(*files, report, limits) if files else []
    return _finish(splits, report)


def _finish(splits: dict[str, list[Pair]], report: LoadReport) -> ParallelCorpus:
    report.kept = {name: len(pairs) for name, pairs in splits.items()}
    held_out = {name: pairs for name, pairs in splits.items() if name not in _SPLIT_STEMS}
    return ParallelCorpus(splits["train"], splits["valid"], splits["test"], report, held_out)


_TOY_WORDS = "null eins zwei drei vier fünf sechs sieben acht neun haus katze hund baum".split()
_TOY_SIZES = {"train": 5000, "valid": 200, "test": 200}


def _toy_corpus(task: str) -> ParallelCorpus:
    """Seeded random word sequences; the "French" side is a copy or the reversal."""
    if task not in ("copy", "reverse"):
        raise UserError(f"toy corpus {task!r}: expected 'toy:copy' or 'toy:reverse'")
    generator = random.Random(f"toy:{task}")
    splits: dict[str, list[Pair]] = {}
    for name, size in _TOY_SIZES.items():
        pairs = []
        for _ in range(size):
            words = generator.choices(_TOY_WORDS, k=generator.randint(3, 12))
            target = words if task == "copy" else words[::-1]
            pairs.append((" ".join(words), " ".join(target)))
        splits[name] = pairs
    return _finish(splits, LoadReport(f"toy:{task}"))


def _load_default(limits: LoadLimits) -> ParallelCorpus:
    from mlnotebook.translate.corpus import build_corpus

    return _load_directory(build_corpus().directory, limits)


def _load_default_v2(limits: LoadLimits) -> ParallelCorpus:
    from mlnotebook.translate.corpus.v2 import build_corpus_v2

    return _load_directory(build_corpus_v2().directory, limits)


def load_corpus(
    spec: str | Path | tuple[str | Path, str | Path] | list[str | Path],
    limits: LoadLimits = LoadLimits(),
) -> ParallelCorpus:
    """The corpus named by `spec`: "default", "default-v2", "toy:copy", a directory, a TSV,
    or (de, fr) paths."""
    if isinstance(spec, tuple | list):
        if len(spec) != 2:
            raise UserError(f"corpus {spec!r}: expected [german_file, french_file]")
        de_path, fr_path = Path(spec[0]), Path(spec[1])
        report = LoadReport(f"{de_path} + {fr_path}")
        pairs = read_aligned(de_path, fr_path, report, limits)
        return _finish(split_by_hash(pairs, report), report)
    if str(spec) == "default":
        return _load_default(limits)
    if str(spec) == "default-v2":
        return _load_default_v2(limits)
    if str(spec).startswith("toy:"):
        return _toy_corpus(str(spec).removeprefix("toy:"))
    path = Path(spec)
    if path.is_dir():
        return _load_directory(path, limits)
    if path.is_file():
        report = LoadReport(str(path))
        return _finish(split_by_hash(read_tsv(path, report, limits), report), report)
    raise UserError(
        f"{path}: no such file or directory (expected 'default', 'default-v2', a TSV file, "
        "a directory with train.de/train.fr, or a (German, French) file pair)"
    )
