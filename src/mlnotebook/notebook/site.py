"""The notebook as a static web site: `build_site(notebook, out_dir)` writes it, ready to open.

Layout of the output folder:

    index.html              every entry with a one-line summary, and a count of claims
    claims.html             every claim: stated verdict, measured figures, status
    entries/<slug>.html     an entry: prose beside its code, figures, claims, papers, links
    figures/<slug>/...      the entry's figures (its own files and its experiments' SVGs)
    assets/                 style.css, search.js and search-index.js
    .mlnotebook-site        marker: this folder is a build, safe to replace

Nothing a page loads is remote: maths is MathML (`site_maths`), code colours are CSS
classes in our stylesheet (`site_code`), search is a local script (`site_search`). So the
site works opened straight from disk and served by `python -m http.server` alike.

The build is atomic-ish: everything is written to a temporary folder beside OUT_DIR and
renamed into place at the end, so a failed build (a broken code link, bad TeX) leaves the
previous site untouched. A non-empty OUT_DIR without the marker is refused rather than
replaced, so a typo in the path cannot wipe someone's folder.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlnotebook.errors import UserError
from mlnotebook.notebook.claims import ClaimResult, ClaimRunner
from mlnotebook.notebook.entry import Claim, Entry
from mlnotebook.notebook.registry import Notebook
from mlnotebook.notebook.site_code import code_block, stylesheet
from mlnotebook.notebook.site_markdown import render_inline, render_markdown
from mlnotebook.notebook.site_pages import (
    EntryPage,
    FigureRef,
    claim_row,
    claim_status,
    claims_page,
    entry_page,
    entry_url,
    index_page,
)
from mlnotebook.notebook.site_search import SearchRecord, index_script, plain_text

MARKER = ".mlnotebook-site"
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, data:, mailto:
_SUMMARY_CHARS = 160


def build_site(
    notebook: Notebook,
    out_dir: Path,
    results: list[ClaimResult] | None = None,
    experiment_figures: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write the site to `out_dir` and return the path of its index.html.

    `results` are judged claims (`ClaimRunner.judge_all`); without them claims are listed
    as not measured. `experiment_figures` maps an experiment ("module:function") to the
    dict it returned; SVGs under its "svg" key are shown on the entries that cite it.
    `runner_figures(runner)` gives that mapping for a runner that has run.
    """
    out_dir = Path(out_dir)
    check_target(out_dir)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=parent))
    try:
        _SiteWriter(notebook, staging, results or [], experiment_figures or {}).write()
        staging.chmod(0o755)
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir / "index.html"


def runner_figures(runner: ClaimRunner) -> dict[str, dict]:
    """Experiment -> the dict it returned, from everything `runner` has run."""
    return {experiment: figures for (experiment, _quick), figures in runner.cache.items()}


def check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"site output {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise UserError(
            f"refusing to overwrite {out_dir}: it is not empty and holds no {MARKER} file "
            "from an earlier site build; choose a new or empty folder"
        )


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = staging.with_name(staging.name.replace(".building-", ".old-"))
    out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", Path(name).name) or "figure"


@dataclass
class _SiteWriter:
    """One build: walks the entries, writes each page, then the shared pages and assets."""

    notebook: Notebook
    root: Path
    results: list[ClaimResult]
    experiment_figures: Mapping[str, Mapping[str, Any]]
    records: list[SearchRecord] = field(default_factory=list)
    summaries: list[tuple[Entry, str]] = field(default_factory=list)
    claim_rows: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def write(self) -> None:
        for folder in ("entries", "assets", "figures"):
            (self.root / folder).mkdir()
        for entry in self.notebook.entries.values():
            self._write_entry(entry)
        self._write("index.html", index_page(self.summaries, dict(self.statuses)))
        self._write("claims.html", claims_page(self.claim_rows))
        self._write_assets()
        self._write(MARKER, "mlnotebook site build; safe to replace with a new build\n")

    def _write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _write_assets(self) -> None:
        static = resources.files("mlnotebook.notebook") / "site_static"
        css = static.joinpath("style.css").read_text(encoding="utf-8")
        self._write("assets/style.css", f"{css}\n/* Pygments */\n{stylesheet()}\n")
        self._write("assets/search.js", static.joinpath("search.js").read_text(encoding="utf-8"))
        self._write("assets/search-index.js", index_script(self.records))

    # ---- one entry ---------------------------------------------------------------------------

    def _write_entry(self, entry: Entry) -> None:
        where = str(entry.path)
        body = render_markdown(
            entry.body,
            where,
            link=lambda href: self._link_target(href),
            image=lambda src: self._markdown_image(entry, src),
        )
        claims = [(claim, self._result(entry, claim)) for claim in entry.claims]
        view = EntryPage(
            entry=entry,
            body_html=body,
            code=[code_block(link, where) for link in entry.code],
            figures=self._entry_figures(entry) + self._experiment_figures(entry),
            claims=claims,
            related=self.notebook.related(entry),
        )
        self._write(entry_url(entry.slug), entry_page(view))
        for claim, result in claims:
            term = html.escape(entry.term)
            link = f'<td><a href="{entry_url(entry.slug)}#claims">{term}</a></td>'
            self.claim_rows.append(claim_row(claim, result, where, entry_cell=link))
            self.statuses[claim_status(result)[1]] += 1
        summary = render_inline(_first_paragraph(entry), where)
        self.summaries.append((entry, summary))
        self.records.append(_search_record(entry, body, summary))

    def _result(self, entry: Entry, claim: Claim) -> ClaimResult | None:
        for result in self.results:
            if result.entry == entry.slug and result.claim == claim:
                return result
        return None

    def _link_target(self, href: str) -> str:
        """`adam.md#idea` (or any name of an entry + .md) -> `adam.html#idea`."""
        path, hash_mark, anchor = href.partition("#")
        if _REMOTE.match(href) or not path.endswith(".md"):
            return href
        target = self.notebook.find(Path(path).stem)
        return f"{target.slug}.html{hash_mark}{anchor}" if target else href

    def _copy_figure(self, entry: Entry, source: Path) -> str:
        if not source.is_file():
            raise UserError(f"{entry.path}: figure {source} not found")
        name = _safe_name(source.name)
        destination = self.root / "figures" / entry.slug / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return f"../figures/{entry.slug}/{name}"

    def _markdown_image(self, entry: Entry, src: str) -> str:
        if _REMOTE.match(src):
            raise UserError(
                f"{entry.path}: image {src!r} is remote; the site loads nothing from the "
                "network, so put the file beside the entry and link it by relative path"
            )
        return self._copy_figure(entry, entry.path.parent / src)

    def _entry_figures(self, entry: Entry) -> list[FigureRef]:
        return [
            FigureRef(self._copy_figure(entry, entry.path.parent / name), Path(name).name)
            for name in entry.figures
        ]

    def _experiment_figures(self, entry: Entry) -> list[FigureRef]:
        """SVGs the entry's experiments returned under their "svg" key, once per experiment."""
        figures: list[FigureRef] = []
        for experiment in dict.fromkeys(c.experiment for c in entry.claims if c.experiment):
            svgs = (self.experiment_figures.get(experiment) or {}).get("svg") or {}
            for name, text in svgs.items():
                file = _safe_name(name)
                self._write(f"figures/{entry.slug}/{file}", text)
                caption = f"{file}, from {experiment.rpartition(':')[2]}"
                figures.append(FigureRef(f"../figures/{entry.slug}/{file}", caption))
        return figures


def _first_paragraph(entry: Entry) -> str:
    text = entry.sections().get("Idea") or entry.body
    paragraph = text.strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def _search_record(entry: Entry, body_html: str, summary_html: str) -> SearchRecord:
    claims = " ".join(claim.text for claim in entry.claims)
    text = f"{entry.term} {' '.join(entry.aliases)} {plain_text(body_html)} {claims}"
    summary = plain_text(summary_html)
    if len(summary) > _SUMMARY_CHARS:
        summary = summary[: _SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return SearchRecord(
        slug=entry.slug,
        title=entry.term,
        url=entry_url(entry.slug),
        names=tuple(name.casefold() for name in entry.names),
        text=text.casefold(),
        summary=summary,
    )
