"""The site's HTML: one shell for every page, then the entry page, the index and the claims page.

Every page links only to files of the site itself (stylesheet, search scripts, figures);
the only absolute addresses are ordinary links to papers, which the reader may follow but
the page never loads. Pages in `entries/` sit one folder down, so each page is given
`root` ("" or "../") and writes every site path relative to it; the same `root` is put on
`<body data-root>` for the search script.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from mlnotebook.notebook.claims import ClaimResult, format_figure
from mlnotebook.notebook.entry import Claim, Entry, Paper
from mlnotebook.notebook.site_code import CodeBlock, code_figure
from mlnotebook.notebook.site_maths import inline_maths_html

SITE_NAME = "mlnotebook"


def entry_url(slug: str) -> str:
    """An entry page's path from the site root."""
    return f"entries/{slug}.html"


def page(title: str, main: str, root: str) -> str:
    """The shell: head with local assets only, header with the search box, main, scripts."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · {SITE_NAME}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}assets/style.css">
</head>
<body data-root="{root}">
<header class="site">
<a class="home" href="{root}index.html">{SITE_NAME}</a>
<nav><a href="{root}index.html">Entries</a><a href="{root}claims.html">Claims</a></nav>
<div class="search" role="search">
<input type="search" id="search" placeholder="Search the notebook" aria-label="Search the notebook"
 autocomplete="off">
<ol id="search-results" hidden></ol>
</div>
</header>
<main>
{main}
</main>
<footer class="site">The code on these pages is read from the installed package when the site
is built, so it is the code that runs.</footer>
<script src="{root}assets/search-index.js"></script>
<script src="{root}assets/search.js"></script>
</body>
</html>
"""


# ---- claims ----------------------------------------------------------------------------------


def claim_status(result: ClaimResult | None) -> tuple[str, str]:
    """(css class, label): does the measurement agree with what the entry states?"""
    if result is None:
        return "not-run", "not measured"
    if result.error:
        return "error", "error"
    return ("confirmed", "confirmed") if result.agrees else ("disputed", "disputed")


def _measured_cell(result: ClaimResult | None) -> str:
    if result is None:
        return "<td>not measured in this build</td>"
    if result.error:
        return f"<td>{html.escape(result.error)}</td>"
    items = "".join(
        f"<li>{'premise: ' if n < len(result.premises) else ''}"
        f"{html.escape(c.check.label + ': ' if c.check.label else '')}"
        f"<code>{html.escape(c.check.metric)}</code> = {html.escape(format_figure(c.measured))}"
        f" ({c.verb} <code>{html.escape(c.check.condition)}</code>)</li>"
        for n, c in enumerate((*result.premises, *result.checks))
    )
    reason = (
        f'<span class="claim-note">{html.escape(result.reason)}</span>' if result.reason else ""
    )
    origin = f'<span class="claim-note">{html.escape(result.origin)}</span>'
    return f'<td><ul class="figure-list">{items}</ul>{reason}{origin}</td>'


def claim_row(claim: Claim, result: ClaimResult | None, where: str, entry_cell: str = "") -> str:
    css, label = claim_status(result)
    note = f'<span class="claim-note">{inline_maths_html(claim.note, where)}</span>'
    measured_verdict = result.measured_verdict if result is not None else "—"
    return (
        f'<tr class="claim {css}">{entry_cell}'
        f"<td>{inline_maths_html(claim.text, where)}{note if claim.note else ''}</td>"
        f"<td>{html.escape(claim.verdict)}</td>{_measured_cell(result)}"
        f"<td>{html.escape(measured_verdict)}</td>"
        f'<td><span class="badge {css}">{label}</span></td></tr>'
    )


def claims_table(rows: list[str], with_entry: bool = False) -> str:
    entry_header = "<th>Entry</th>" if with_entry else ""
    return (
        f'<table class="claims"><thead><tr>{entry_header}<th>Claim</th><th>Stated</th>'
        "<th>Measured</th><th>Measured verdict</th><th>Status</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# ---- entry page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRef:
    src: str  # relative to the entry page
    caption: str


@dataclass(frozen=True)
class EntryPage:
    """Everything an entry's page shows, each part already rendered or resolved."""

    entry: Entry
    body_html: str
    code: list[CodeBlock]
    figures: list[FigureRef]
    claims: list[tuple[Claim, ClaimResult | None]]
    related: list[Entry]


def paper_item(paper: Paper, where: str) -> str:
    links = []
    if paper.arxiv:
        arxiv = html.escape(paper.arxiv)
        links.append(f'<a href="https://arxiv.org/abs/{arxiv}">arXiv:{arxiv}</a>')
    if paper.url:
        links.append(f'<a href="{html.escape(paper.url)}">link</a>')
    venue = f" {html.escape(paper.venue)}." if paper.venue else ""
    return (
        f"<li>{html.escape(paper.authors)} ({paper.year}). "
        f"<cite>{inline_maths_html(paper.title, where)}</cite>.{venue} {' '.join(links)}</li>"
    )


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2>{content}</section>'


def entry_page(view: EntryPage) -> str:
    entry, where = view.entry, str(view.entry.path)
    aliases = ", ".join(html.escape(a) for a in entry.aliases)
    parts = [f"<h1>{html.escape(entry.term)}</h1>"]
    if aliases:
        parts.append(f'<p class="aliases">Also known as: {aliases}</p>')
    code = "".join(code_figure(block) for block in view.code)
    parts.append(
        f'<div class="entry-grid"><div class="prose">{view.body_html}</div>'
        f'<aside class="code" aria-label="Code">{code or "<p>No code linked.</p>"}</aside></div>'
    )
    if view.figures:
        figures = "".join(
            f'<figure><img src="{html.escape(f.src)}" alt="{html.escape(f.caption)}">'
            f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
            for f in view.figures
        )
        parts.append(_section("figures", "Figures", f'<div class="figures">{figures}</div>'))
    if view.claims:
        rows = [claim_row(claim, result, where) for claim, result in view.claims]
        parts.append(_section("claims", "Claims", claims_table(rows)))
    if entry.papers:
        papers = "".join(paper_item(p, where) for p in entry.papers)
        parts.append(_section("papers", "Papers", f"<ul>{papers}</ul>"))
    if view.related:
        related = "".join(
            f'<li><a href="{e.slug}.html">{html.escape(e.term)}</a></li>' for e in view.related
        )
        parts.append(_section("related", "Related entries", f"<ul>{related}</ul>"))
    return page(entry.term, f'<article class="entry">{"".join(parts)}</article>', root="../")


# ---- index and claims overview ---------------------------------------------------------------


def index_page(entries: list[tuple[Entry, str]], claim_counts: dict[str, int]) -> str:
    """`entries`: (entry, rendered one-line summary); `claim_counts`: status label -> count."""
    items = "".join(
        f'<li><a href="{entry_url(e.slug)}">{html.escape(e.term)}</a>'
        f'<span class="summary">{summary}</span></li>'
        for e, summary in entries
    )
    counts = ", ".join(f"{n} {label}" for label, n in claim_counts.items() if n)
    total = sum(claim_counts.values())
    main = (
        "<h1>The notebook</h1>"
        "<p>Each entry explains one idea, shows the code that implements it beside the "
        "prose, and checks the claims usually made about it with a small experiment.</p>"
        f'<ul class="entries">{items}</ul>'
        f"<h2>Claims</h2><p>{total} claims{': ' + counts if counts else ''}. "
        '<a href="claims.html">All claims and their measurements</a>.</p>'
    )
    return page("Entries", main, root="")


def claims_page(rows: list[str]) -> str:
    main = (
        "<h1>Claims</h1><p>Every claim in the notebook, what its entry states, and what the "
        "experiment measured. <em>Confirmed</em> means the measurement agrees with the "
        "entry; <em>disputed</em> means it does not.</p>"
        f"{claims_table(rows, with_entry=True)}"
    )
    return page("Claims", main, root="")
