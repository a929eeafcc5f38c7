"""An entry's Markdown body as HTML: CommonMark plus tables, maths as MathML, links rewritten.

The steps, in order:

1. lift the maths out (`site_maths.protect_maths`), so Markdown never sees TeX;
2. parse with markdown-it-py into tokens; raw HTML in an entry is shown as text, not run;
3. walk the tokens: give each heading an id (so `#equations` links work), and let the
   caller rewrite link and image targets: `[Adam](adam.md)` becomes the Adam page, a
   relative image is copied next to the page;
4. render the tokens and put the maths back as MathML.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mlnotebook.notebook.site_maths import protect_maths, restore_maths

# A target rewriter gets the target as written and returns the one to put in the page.
Rewrite = Callable[[str], str]


def _keep(target: str) -> str:
    return target


def new_parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def anchor_id(text: str) -> str:
    """'Weaknesses and fixes' -> 'weaknesses-and-fixes'."""
    return re.sub(r"[^0-9a-z]+", "-", text.casefold()).strip("-") or "section"


def render_markdown(
    text: str,
    where: str,
    link: Rewrite = _keep,
    image: Rewrite = _keep,
) -> str:
    """Markdown with `$maths$` -> HTML with MathML; `where` (a file) is named in errors."""
    protected, spans = protect_maths(text)
    parser = new_parser()
    tokens = parser.parse(protected)
    _add_heading_ids(tokens)
    _rewrite_targets(tokens, link, image)
    return restore_maths(parser.renderer.render(tokens, parser.options, {}), spans, where)


def render_inline(text: str, where: str) -> str:
    """One line of Markdown (a summary, a note) without the surrounding paragraph."""
    protected, spans = protect_maths(text)
    return restore_maths(new_parser().renderInline(protected), spans, where)


def _add_heading_ids(tokens: list[Token]) -> None:
    used: set[str] = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "heading_open":
            base = anchor_id(inline.content)
            candidate, number = base, 2
            while candidate in used:
                candidate, number = f"{base}-{number}", number + 1
            used.add(candidate)
            opening.attrSet("id", candidate)


def _rewrite_targets(tokens: list[Token], link: Rewrite, image: Rewrite) -> None:
    for token in tokens:
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("href", link(str(child.attrGet("href"))))
            elif child.type == "image":
                child.attrSet("src", image(str(child.attrGet("src"))))
