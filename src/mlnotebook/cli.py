"""The `mlnb` command line: one verb per capability.

Each feature module that adds verbs exposes `register(subparsers)`; it adds
its sub-parsers and sets `func` on each, a callable taking the parsed
arguments and returning an exit code. Errors a user can fix surface as a
single line on stderr and exit code 2; nothing prints a traceback unless
`MLNB_DEBUG=1` is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mlnotebook.errors import UserError

# Modules that contribute verbs, in the order `mlnb --help` lists them.
_COMMAND_MODULES = [
    "mlnotebook.experiments.commands",
    "mlnotebook.translate.data_commands",
    "mlnotebook.translate.commands",
    "mlnotebook.notebook.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlnb",
        description="mlnotebook: a living machine-learning notebook "
        "(optimisers, normalisation, German-to-French translation).",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mlnb: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if os.environ.get("MLNB_DEBUG"):
            raise
        print(f"mlnb {args.verb}: error: {exc}", file=sys.stderr)
        return 2
