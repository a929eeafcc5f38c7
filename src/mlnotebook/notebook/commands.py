"""`mlnb notebook ...`: read, search, extend, check and publish the notebook.

    mlnb notebook list                      every entry, built-in and the user's
    mlnb notebook show TERM                 one entry in the terminal (any alias, any case)
    mlnb notebook search WORDS              entries ranked by the words
    mlnb notebook new TERM                  a blank entry in the user's folder
    mlnb notebook check [--full] [TERM...]  run each claim's experiment, compare verdicts
    mlnb notebook build OUT_DIR [--no-run]  the static site

`--notes DIR` (or the MLNB_NOTES environment variable) names the user's folder of entries,
merged with the built-in ones; see `scaffold.py` for the default folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlnotebook.notebook.claims import ClaimResult, ClaimRunner
from mlnotebook.notebook.registry import Notebook, load_notebook
from mlnotebook.notebook.scaffold import NOTES_ENV, notes_to_merge, user_notes_dir, write_scaffold

NOTES_HELP = (
    f"folder of your own entries, merged with the built-in ones (default: ${NOTES_ENV}, "
    "else $XDG_DATA_HOME/mlnotebook/notes, i.e. ~/.local/share/mlnotebook/notes)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    notebook = subparsers.add_parser(
        "notebook",
        help="the notebook: list, show, search, new, check, build",
        description="Read the notebook's entries, add your own, check every claim against "
        "its experiment, and build the site. " + NOTES_HELP + ".",
    )
    notebook.add_argument("--notes", type=Path, default=None, metavar="DIR", help=NOTES_HELP)
    # The same option after the action (`mlnb notebook list --notes DIR`); SUPPRESS keeps
    # an absent one from overwriting the value given before the action.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--notes", type=Path, default=argparse.SUPPRESS, metavar="DIR")
    actions = notebook.add_subparsers(dest="notebook_action", metavar="ACTION")
    _register_reading(actions, common)
    _register_new(actions, common)
    _register_check(actions, common)
    _register_build(actions, common)
    notebook.set_defaults(func=lambda args: _print_help(notebook))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _register_reading(actions: argparse._SubParsersAction, common) -> None:
    listing = actions.add_parser("list", parents=[common], help="list every entry")
    listing.set_defaults(func=_list)
    show = actions.add_parser("show", parents=[common], help="show one entry in the terminal")
    show.add_argument("term", nargs="+", help='a term or alias, e.g. "adam" or "ADAM"')
    show.set_defaults(func=_show)
    search = actions.add_parser("search", parents=[common], help="find entries by words")
    search.add_argument("words", nargs="+")
    search.add_argument("--limit", type=int, default=10, help="show at most this many (10)")
    search.set_defaults(func=_search)


def _register_new(actions: argparse._SubParsersAction, common) -> None:
    new = actions.add_parser(
        "new", parents=[common], help="write a blank entry for TERM in your notes folder"
    )
    new.add_argument("term", nargs="+")
    new.set_defaults(func=_new)


def _register_check(actions: argparse._SubParsersAction, common) -> None:
    check = actions.add_parser(
        "check",
        parents=[common],
        help="run every claim's experiment and compare the measured verdict with the entry's",
        description="Exit status 1 when any measured verdict disagrees with the entry.",
    )
    check.add_argument("terms", nargs="*", metavar="TERM", help="only these entries")
    check.add_argument(
        "--full",
        action="store_true",
        help="full experiments (slow) and full-run results files where they exist",
    )
    check.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    check.add_argument(
        "--results",
        type=Path,
        metavar="DIR",
        help="folder holding results files such as results/translation.json "
        "(default: the current folder, then the repository)",
    )
    check.set_defaults(func=_check)


def _register_build(actions: argparse._SubParsersAction, common) -> None:
    build = actions.add_parser("build", parents=[common], help="build the static site")
    build.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    build.add_argument("--no-run", action="store_true", help="skip the experiments")
    build.add_argument("--full", action="store_true", help="full experiments (slow)")
    build.set_defaults(func=_build)


# ---- handlers --------------------------------------------------------------------------------


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _notebook(args: argparse.Namespace) -> Notebook:
    return load_notebook(notes_to_merge(args.notes))


def _list(args: argparse.Namespace) -> int:
    from mlnotebook.notebook.terminal import entries_table

    _console().print(entries_table(_notebook(args)))
    return 0


def _show(args: argparse.Namespace) -> int:
    from mlnotebook.notebook.terminal import show_entry

    notebook = _notebook(args)
    show_entry(_console(), notebook, notebook.get(" ".join(args.term)))
    return 0


def _search(args: argparse.Namespace) -> int:
    from mlnotebook.notebook.search import search

    query = " ".join(args.words)
    hits = search(_notebook(args), query, args.limit)
    if not hits:
        print(f"no entry mentions {query!r}")
    for hit in hits:
        print(f"{hit.entry.slug:<28} {hit.entry.term}  (score {hit.score})")
        if hit.snippet:
            print(f"    {hit.snippet}")
    return 0


def _new(args: argparse.Namespace) -> int:
    folder, _ = user_notes_dir(args.notes)
    notebook = load_notebook(folder if folder.is_dir() else None)
    path = write_scaffold(notebook, " ".join(args.term), folder)
    print(f"wrote {path}; fill it in, then `mlnb notebook show` it")
    return 0


def run_claims(
    notebook: Notebook, terms: list[str], full: bool, results_root: Path | None = None
) -> tuple[list[ClaimResult], dict[str, dict]]:
    """Judge the claims of the named entries (all when none), reporting progress on stderr.

    Returns the results and, per experiment, the figures it returned (the site draws them).
    """
    from mlnotebook.notebook.site import runner_figures

    entries = [notebook.get(t) for t in terms] if terms else list(notebook.entries.values())
    progress = _console(stderr=True)
    runner = ClaimRunner(quick=not full, results_root=results_root)
    runner.on_start = lambda experiment: progress.print(f"running {experiment} ...", style="dim")
    return runner.judge_all(entries), runner_figures(runner)


def _check(args: argparse.Namespace) -> int:
    from mlnotebook.notebook.terminal import check_table

    results, _ = run_claims(_notebook(args), args.terms, args.full, args.results)
    console = _console()
    console.print(check_table(results))
    disagreements = [r for r in results if not r.agrees]
    console.print(
        f"{len(results)} claims: {len(results) - len(disagreements)} agree with "
        f"their entries, {len(disagreements)} disagree"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results_json(results), indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if disagreements else 0


def _build(args: argparse.Namespace) -> int:
    from mlnotebook.notebook.site import build_site

    notebook = _notebook(args)
    results, figures = (None, None) if args.no_run else run_claims(notebook, [], args.full)
    index = build_site(notebook, args.out_dir, results, experiment_figures=figures)
    print(f"site written to {index}")
    return 0


# ---- JSON ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A figure as JSON can hold it (tensors and numpy scalars become numbers or text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def results_json(results: list[ClaimResult]) -> list[dict]:
    return [
        {
            "entry": r.entry,
            "claim": r.claim.text,
            "experiment": r.claim.experiment,
            "origin": r.origin,
            "stated": r.claim.verdict,
            "measured": r.measured_verdict,
            "agrees": r.agrees,
            "error": r.error,
            "reason": r.reason,
            "checks": [
                {
                    "label": c.check.label,
                    "metric": c.check.metric,
                    "condition": c.check.condition,
                    "measured": _plain(c.measured),
                    "compared_with": _plain(c.compared_with),
                    "holds": c.holds,
                    "decided": c.decided,
                }
                for c in (*r.premises, *r.checks)
            ],
        }
        for r in results
    ]
