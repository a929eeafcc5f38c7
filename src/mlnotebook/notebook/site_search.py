"""Search that works from a file:// page: the index is a script that sets a global.

Browsers refuse `fetch()` of a local file, so the index cannot be a JSON file read at run
time. Instead the build writes `assets/search-index.js`,

    window.MLNB_SEARCH_INDEX = [{"slug": ..., "title": ..., "names": [...], "text": ...}];

which every page loads with an ordinary `<script src>` before `assets/search.js`, the
search itself. A query matches an entry when every word of it appears in the entry's
names or text; matches in a name rank above matches in the text only.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass

GLOBAL_NAME = "MLNB_SEARCH_INDEX"
# Inline tags vanish ("<em>velocity</em>," -> "velocity,"); any other tag (a paragraph,
# a cell, a MathML token) separates words.
_INLINE_TAG = re.compile(r"</?(?:a|em|strong|code|span|cite|b|i|sup|sub)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_ANNOTATION = re.compile(r"<annotation\b.*?</annotation>", re.DOTALL)


@dataclass(frozen=True)
class SearchRecord:
    slug: str
    title: str
    url: str  # relative to the site's root
    names: tuple[str, ...]  # term and aliases, lower case
    text: str  # the page's words, lower case, for matching
    summary: str  # shown under the title in the results


def plain_text(page_html: str) -> str:
    """Rendered HTML -> its visible words (TeX annotations and tags dropped, one space)."""
    text = _TAG.sub(" ", _INLINE_TAG.sub("", _ANNOTATION.sub(" ", page_html)))
    return " ".join(html.unescape(text).split())


def index_script(records: list[SearchRecord]) -> str:
    payload = json.dumps([asdict(r) for r in records], ensure_ascii=False, indent=0)
    return f"// Written by mlnotebook's site build.\nwindow.{GLOBAL_NAME} = {payload};\n"
