"""The user's own notes: where they live, and a blank entry to start one from.

The user's folder is, in order of precedence: `--notes DIR`, the `MLNB_NOTES` environment
variable (the notebook's config setting), or `$XDG_DATA_HOME/mlnotebook/notes`
(`~/.local/share/mlnotebook/notes` when XDG_DATA_HOME is unset). A folder named by
`--notes` or `MLNB_NOTES` must exist; the default one is read only when it exists, and
`mlnb notebook new` creates it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mlnotebook.errors import UserError
from mlnotebook.notebook.registry import Notebook, normalise_name

NOTES_ENV = "MLNB_NOTES"

TEMPLATE = """\
---
term: {term_yaml}
aliases: []
# code: links to the objects that implement the idea, as package.module:object
code: []
# related: file names (without .md) or terms of other entries
related: []
papers: []
#  - title: "The paper's title"
#    authors: First Author, Second Author
#    year: 2015
#    arxiv: "1412.6980"
claims: []
#  - text: A sentence the entry asserts.
#    experiment: package.module:function   # a function (quick: bool) -> dict of figures
#    checks:
#      - {{metric: some.figure, condition: "< 0.5", label: what the figure is}}
#    verdict: supported   # or contradicted, conditional, inconclusive: what it shows
---
## Idea
What {term} is, in plain words.

## Equations
$$ $$

## Intuition
A picture or analogy that makes it stick.

## Weaknesses
- Where it fails or misleads.
"""


def default_notes_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "mlnotebook" / "notes"


def user_notes_dir(notes: Path | None) -> tuple[Path, bool]:
    """(the user's folder, whether the user named it): --notes, then $MLNB_NOTES, else default."""
    if notes is not None:
        return Path(notes).expanduser(), True
    if os.environ.get(NOTES_ENV):
        return Path(os.environ[NOTES_ENV]).expanduser(), True
    return default_notes_dir(), False


def notes_to_merge(notes: Path | None) -> Path | None:
    """The folder to merge with the built-in entries, or None when there is none yet."""
    folder, named = user_notes_dir(notes)
    if named and not folder.is_dir():
        source = "--notes" if notes is not None else NOTES_ENV
        raise UserError(f"notes folder {folder} (from {source}) does not exist")
    return folder if folder.is_dir() else None


def slug_for(term: str) -> str:
    """'Adaptive Moment Estimation' -> 'adaptive-moment-estimation' (the file name)."""
    slug = normalise_name(term).replace(" ", "-")
    if not re.fullmatch(r"[0-9a-z][0-9a-z-]*", slug):
        raise UserError(f"cannot make a file name from term {term!r}: use letters or digits")
    return slug


def write_scaffold(notebook: Notebook, term: str, folder: Path) -> Path:
    """Write `folder/<slug>.md` for a new term; never overwrite, never shadow another entry."""
    term = " ".join(term.split())
    path = folder / f"{slug_for(term)}.md"
    if path.exists():
        raise UserError(f"{path} already exists; edit it instead (nothing was written)")
    existing = notebook.find(term) or notebook.find(path.stem)
    if existing is not None:
        raise UserError(
            f"{term!r} is already the entry {existing.slug!r} ({existing.path}); "
            f"to rewrite it, copy that file into {folder}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as file:  # "x": fail rather than overwrite
        file.write(TEMPLATE.format(term=term, term_yaml=json.dumps(term)))
    return path
