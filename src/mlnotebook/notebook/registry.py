"""The notebook as a whole: built-in entries merged with a user's folder, looked up by any name.

Built-in entries ship inside the package (`notebook/entries/*.md`). A user's folder
(`--notes DIR`) is read the same way and merged in; a user entry with the same file name
as a built-in one replaces it, so a user can rewrite an entry without forking the package.
Names are matched without regard to case, spacing or punctuation, so "adam", "ADAM" and
"Adaptive Moment Estimation" all find the Adam entry.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from mlnotebook.errors import UserError
from mlnotebook.notebook.entry import Entry, load_folder

BUILTIN_DIR = Path(__file__).parent / "entries"


def normalise_name(name: str) -> str:
    """'Adaptive-Moment  Estimation' -> 'adaptive moment estimation'."""
    return " ".join(re.split(r"[^0-9a-z]+", name.casefold())).strip()


@dataclass
class Notebook:
    entries: dict[str, Entry]  # slug -> entry, in display order

    def find(self, name: str) -> Entry | None:
        wanted = normalise_name(name)
        for entry in self.entries.values():
            if any(normalise_name(n) == wanted for n in entry.names):
                return entry
        return None

    def get(self, name: str) -> Entry:
        entry = self.find(name)
        if entry is None:
            raise UserError(f"no notebook entry named {name!r} (try 'mlnb notebook search')")
        return entry

    def related(self, entry: Entry) -> list[Entry]:
        """The related entries that exist; unknown names are reported by `dangling_links`."""
        return [e for e in (self.find(name) for name in entry.related) if e is not None]

    def dangling_links(self) -> list[str]:
        return [
            f"{entry.path}: related entry {name!r} not found"
            for entry in self.entries.values()
            for name in entry.related
            if self.find(name) is None
        ]


def load_notebook(notes: Path | None = None, builtin_dir: Path = BUILTIN_DIR) -> Notebook:
    entries = {e.slug: e for e in load_folder(builtin_dir, builtin=True)}
    if notes is not None:
        for entry in load_folder(notes):
            entries[entry.slug] = entry
    _check_unique_names(entries.values())
    return Notebook(dict(sorted(entries.items(), key=lambda item: item[1].term.casefold())))


def _check_unique_names(entries) -> None:
    owner: dict[str, Entry] = {}
    for entry in entries:
        for name in {normalise_name(n) for n in entry.names}:
            if name in owner and owner[name].slug != entry.slug:
                raise UserError(
                    f"{entry.path}: name {name!r} is already used by {owner[name].path}"
                )
            owner[name] = entry


# ---- code links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeLink:
    link: str  # "mlnotebook.optim.adam:adam_update"
    module: str
    qualname: str
    source: str  # the object's source, read from the installed package
    file: str
    line: int


def resolve_object(link: str) -> object:
    """Import 'package.module:Object.attr' and return the object; UserError if it is missing."""
    module_name, _, qualname = link.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"code link {link!r}: cannot import {module_name} ({exc})") from None
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise UserError(f"code link {link!r}: {module_name} has no {qualname}")
        target = getattr(target, part)
    return target


def resolve_code(link: str) -> CodeLink:
    target = inspect.unwrap(resolve_object(link))
    try:
        lines, first = inspect.getsourcelines(target)
        file = inspect.getsourcefile(target) or ""
    except (OSError, TypeError) as exc:
        raise UserError(f"code link {link!r}: no source available ({exc})") from None
    module_name, _, qualname = link.partition(":")
    return CodeLink(link, module_name, qualname, "".join(lines), file, first)
