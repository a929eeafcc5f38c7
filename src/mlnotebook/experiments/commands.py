"""Verbs that run the notebook's experiments: `mlnb race`, `mlnb demo`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_race(subparsers)
    demo = subparsers.add_parser("demo", help="run the main job on the built-in defaults")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    print("mlnb demo: nothing to run yet")
    return 0


def _register_race(subparsers: argparse._SubParsersAction) -> None:
    from mlnotebook.surfaces import SURFACES

    race = subparsers.add_parser(
        "race",
        help="race the optimisers on 2-D test surfaces, each at its best stable learning rate",
    )
    race.add_argument("--out", type=Path, default=Path("runs/race"), help="output folder")
    race.add_argument("--quick", action="store_true", help="200 steps instead of 1000")
    race.add_argument(
        "--surface",
        action="append",
        choices=list(SURFACES),
        help="race only on this surface (repeatable; default: all)",
    )
    race.add_argument("--steps", type=int, help="steps per run (overrides --quick)")
    race.set_defaults(func=_race)


def _race(args: argparse.Namespace) -> int:
    from mlnotebook.experiments.race import race_command

    return race_command(args.out, quick=args.quick, surfaces=args.surface, steps=args.steps)
