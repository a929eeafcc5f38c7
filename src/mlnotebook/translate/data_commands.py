"""The `mlnb data` verbs: build a Debian corpus, and describe any corpus.

`mlnb data fetch [default|default-v2] [--dir DIR] [--force]` builds the
German-French corpus from Debian packages (or reuses it when its manifest
still matches) and prints the split sizes and where the files are.
`default-v2` is the cleaner, broader corpus of `corpus/v2/`: the same test
split as `default` (copied byte for byte) plus the held-out `test-clean` and
`test-general` splits, each printed with its copy baseline.
`mlnb data info [SPEC]` loads a corpus ("default", "default-v2", a TSV, a
directory) and prints what was kept and skipped, and the copy baseline
(BLEU/chrF of copying the German) of each test split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlnotebook.translate.corpus import build_corpus
from mlnotebook.translate.corpus.v2 import SPEC as V2_SPEC
from mlnotebook.translate.corpus.v2 import build_corpus_v2, default_v2_dir
from mlnotebook.translate.evaluate import copy_baseline
from mlnotebook.translate.user_data import load_corpus

CORPORA = ("default", V2_SPEC)


def _fetch(args: argparse.Namespace) -> int:
    build = build_corpus_v2 if args.corpus == V2_SPEC else build_corpus
    result = build(Path(args.dir) if args.dir else None, force=args.force)
    manifest = result.manifest
    sizes = manifest["splits"]
    order = ["train", "valid", "test", *sorted(set(sizes) - {"train", "valid", "test"})]
    splits = ", ".join(f"{name} {sizes[name]:,}" for name in order)
    state = "up to date, reused" if result.reused else "built"
    print(f"{result.directory}: {state}: {splits}")
    for name, baseline in manifest.get("copy_baselines", {}).items():
        print(f"  copy baseline {name}: BLEU {baseline['bleu']:.2f}, chrF {baseline['chrf']:.2f}")
    if not result.reused:
        seconds = manifest["seconds"]
        print(f"  {len(manifest['packages'])} packages, {seconds['total']:.0f} s ({seconds})")
        if manifest["missing_packages"]:
            print(f"  not available from apt: {', '.join(manifest['missing_packages'])}")
    return 0


def _corpus_dir(spec: str) -> Path | None:
    """The folder a spec's TSVs live in, when it names one."""
    if spec == V2_SPEC:
        return default_v2_dir()
    return Path(spec) if Path(spec).is_dir() else None


def _info(args: argparse.Namespace) -> int:
    corpus = load_corpus(args.spec)
    print(corpus.report.summary())
    for name, pairs in (("train", corpus.train), ("valid", corpus.valid), ("test", corpus.test)):
        if pairs:
            de, fr = pairs[0]
            print(f"  {name} example: {de!r} -> {fr!r}", file=sys.stdout)
    directory = _corpus_dir(args.spec)
    for name, pairs in {"test": corpus.test, **corpus.held_out}.items():
        if not pairs:
            continue
        bleu, chrf = copy_baseline(pairs)
        print(f"  copy baseline {name}: BLEU {bleu.score:.2f}, chrF {chrf.score:.2f}")
        if name != "test" and directory is not None:
            path = directory / f"{name}.tsv"
            print(f"    score a model on it: mlnb evaluate --model RUN --test {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="build or inspect German-French corpora")
    verbs = data.add_subparsers(dest="data_verb", metavar="ACTION", required=True)
    fetch = verbs.add_parser(
        "fetch", help="build a German-French corpus from Debian packages (needs apt)"
    )
    fetch.add_argument(
        "corpus",
        nargs="?",
        default="default",
        choices=CORPORA,
        help="'default' (today's corpus) or 'default-v2' (cleaned, with general text)",
    )
    fetch.add_argument(
        "--dir",
        help="output directory (default: $MLNB_DATA_DIR/debian-de-fr, or debian-de-fr-v2)",
    )
    fetch.add_argument("--force", action="store_true", help="download again and rebuild")
    fetch.set_defaults(func=_fetch)
    info = verbs.add_parser("info", help="load a corpus and report what was kept and skipped")
    info.add_argument(
        "spec",
        nargs="?",
        default="default",
        help="'default', 'default-v2', a TSV file or a directory",
    )
    info.set_defaults(func=_info)
