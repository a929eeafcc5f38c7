"""Verbs that run the notebook's experiments: `mlnb demo`, `mlnb race`, `mlnb bn-sweep`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_demo(subparsers)
    _register_race(subparsers)
    _register_bn_sweep(subparsers)


def _register_demo(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the main job: race, batch-norm sweep, short translation trainings, notebook site",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--quick", action="store_true", help="tiny versions of every stage")
    demo.add_argument(
        "--minutes",
        type=float,
        default=12.0,
        help="training budget of the translation stage, shared by the model families it trains",
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from mlnotebook.experiments.demo import run_demo

    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes}")
    run_demo(args.out, quick=args.quick, minutes=args.minutes)
    return 0


def _register_bn_sweep(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "bn-sweep",
        help="the same MLP with and without batch norm over a sweep of learning rates (digits)",
    )
    sweep.add_argument("--out", type=Path, default=Path("runs/bn_sweep"), help="output folder")
    sweep.add_argument("--quick", action="store_true", help="fewer rates, seeds and epochs")
    sweep.set_defaults(func=_bn_sweep)


def _bn_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mlnotebook.experiments.bn_sweep import run_bn_sweep

    summary = run_bn_sweep(args.out, quick=args.quick)
    Console().print(summary)
    print(f"figures and figures' data in {args.out}/ (bn_sweep.png, bn_sweep.svg, bn_sweep.json)")
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
