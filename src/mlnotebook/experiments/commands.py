"""Verbs that run the notebook's experiments: `mlnb race`, `mlnb demo`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="run the main job on the built-in defaults")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    print("mlnb demo: nothing to run yet")
    return 0
