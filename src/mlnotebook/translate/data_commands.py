"""The `mlnb data` verbs: build the default corpus, and describe any corpus.

`mlnb data fetch [--dir DIR] [--force]` builds the German-French corpus from
Debian packages (or reuses it when its manifest still matches) and prints the
split sizes and where the files are. `mlnb data info [SPEC]` loads a corpus
("default", a TSV, a directory) and prints what was kept and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlnotebook.translate.corpus import build_corpus
from mlnotebook.translate.user_data import load_corpus


def _fetch(args: argparse.Namespace) -> int:
    result = build_corpus(Path(args.dir) if args.dir else None, force=args.force)
    manifest = result.manifest
    sizes = manifest["splits"]
    splits = ", ".join(f"{name} {sizes[name]:,}" for name in ("train", "valid", "test"))
    state = "up to date, reused" if result.reused else "built"
    print(f"{result.directory}: {state}: {splits}")
    if not result.reused:
        seconds = manifest["seconds"]
        print(f"  {len(manifest['packages'])} packages, {seconds['total']:.0f} s ({seconds})")
        if manifest["missing_packages"]:
            print(f"  not available from apt: {', '.join(manifest['missing_packages'])}")
    return 0


def _info(args: argparse.Namespace) -> int:
    corpus = load_corpus(args.spec)
    print(corpus.report.summary())
    for name, pairs in (("train", corpus.train), ("valid", corpus.valid), ("test", corpus.test)):
        if pairs:
            de, fr = pairs[0]
            print(f"  {name} example: {de!r} -> {fr!r}", file=sys.stdout)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="build or inspect German-French corpora")
    verbs = data.add_subparsers(dest="data_verb", metavar="ACTION", required=True)
    fetch = verbs.add_parser(
        "fetch", help="build the default corpus from Debian packages (needs apt)"
    )
    fetch.add_argument("--dir", help="output directory (default: $MLNB_DATA_DIR/debian-de-fr)")
    fetch.add_argument("--force", action="store_true", help="download again and rebuild")
    fetch.set_defaults(func=_fetch)
    info = verbs.add_parser("info", help="load a corpus and report what was kept and skipped")
    info.add_argument(
        "spec", nargs="?", default="default", help="'default', a TSV file or a directory"
    )
    info.set_defaults(func=_info)
