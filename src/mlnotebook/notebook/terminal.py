"""Showing the notebook in a terminal with rich: one entry, the entry list, the check table.

Equations stay as their LaTeX source (`$$ m_t = ... $$`), which reads well enough in a
terminal and is exactly what the user would type in their own entry.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlnotebook.errors import UserError
from mlnotebook.notebook.claims import ClaimResult
from mlnotebook.notebook.entry import Entry, Paper
from mlnotebook.notebook.registry import Notebook, resolve_code

VERDICT_STYLE = {
    "supported": "green",
    "contradicted": "red",
    "conditional": "yellow",
    "inconclusive": "cyan",
}


def paper_line(paper: Paper) -> str:
    where = ", ".join(x for x in (paper.venue, f"arXiv:{paper.arxiv}" if paper.arxiv else "") if x)
    return f"{paper.authors} ({paper.year}). {paper.title}." + (f" {where}." if where else "")


def code_line(link: str) -> str:
    """'`module:object` (path/to/file.py:42)', or the reason the link does not resolve."""
    try:
        code = resolve_code(link)
    except UserError as exc:
        return f"`{link}` (not found: {exc})"
    return f"`{link}` ({code.file}:{code.line})"


def _verdict(verdict: str) -> Text:
    return Text(verdict, style=VERDICT_STYLE.get(verdict, "bold red"))


def _claims_markdown(entry: Entry) -> str:
    lines = ["## Claims"]
    for claim in entry.claims:
        lines.append(f"- **{claim.verdict}**: {claim.text}")
        for check in claim.checks:
            label = f"{check.label}: " if check.label else ""
            lines.append(f"    - {label}`{check.metric} {check.condition}`")
        if claim.experiment:
            lines.append(f"    - experiment: `{claim.experiment}`")
        if claim.results:
            kind = "full-run figures" if claim.experiment else "measured figures"
            lines.append(f"    - {kind}: `{claim.results}`")
        if claim.note:
            lines.append(f"    - {claim.note}")
    return "\n".join(lines)


def entry_markdown(notebook: Notebook, entry: Entry) -> str:
    """The whole entry as one Markdown document: body, claims, papers, code, related."""
    parts = [entry.body.strip()]
    if entry.claims:
        parts.append(_claims_markdown(entry))
    if entry.papers:
        parts.append("## Papers\n" + "\n".join(f"- {paper_line(p)}" for p in entry.papers))
    if entry.code:
        parts.append("## Code\n" + "\n".join(f"- {code_line(link)}" for link in entry.code))
    related = notebook.related(entry)
    if related:
        parts.append("## Related\n" + "\n".join(f"- {e.term} (`{e.slug}`)" for e in related))
    return "\n\n".join(parts) + "\n"


def show_entry(console: Console, notebook: Notebook, entry: Entry) -> None:
    lines = [Text(entry.term, style="bold")]
    if entry.aliases:
        lines.append(Text("also: " + ", ".join(entry.aliases), style="italic"))
    lines.append(Text("built-in" if entry.builtin else f"your notes: {entry.path}", style="dim"))
    console.print(Panel(Group(*lines), expand=False))
    console.print(Markdown(entry_markdown(notebook, entry)))


def entries_table(notebook: Notebook) -> Table:
    table = Table(title="Notebook entries")
    for column in ("entry", "term", "aliases", "claims", "from"):
        table.add_column(column)
    for entry in notebook.entries.values():
        table.add_row(
            *map(
                Text,
                (
                    entry.slug,
                    entry.term,
                    ", ".join(entry.aliases),
                    str(len(entry.claims)),
                    "built-in" if entry.builtin else str(entry.path.parent),
                ),
            )
        )
    return table


def check_table(results: list[ClaimResult]) -> Table:
    """entry, claim, measured figures, stated verdict, measured verdict, OK / DISAGREES."""
    table = Table(title="Claims against measurements", show_lines=True)
    table.add_column("entry", no_wrap=True)
    table.add_column("claim", ratio=3)
    table.add_column("measured", ratio=4)
    table.add_column("stated")
    table.add_column("measured verdict")
    table.add_column("", no_wrap=True)
    for result in results:
        agree = Text("OK", style="green") if result.agrees else Text("DISAGREES", style="bold red")
        table.add_row(  # Text, not str: figures like "[quick experiment]" are not markup
            Text(result.entry),
            Text(result.claim.text),
            Text(f"{result.figures_text()}\n({result.origin})"),
            _verdict(result.claim.verdict),
            _verdict(result.measured_verdict),
            agree,
        )
    return table
