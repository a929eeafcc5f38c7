"""Cutting a translated document into blocks: paragraphs, headings, list items.

German and French builds of one manual come from the same source, so the
sequence of their block elements is (nearly) the same; the blocks are the unit
we align. Each block keeps its tag, its element id (LibreOffice help gives
every paragraph one), its plain text, and a language-independent signature
(tag, the numbers in the text, the count of inline elements) that sequence
alignment compares. Code (`pre`, Mallard `screen`, roff `.nf`/`.EX`), scripts
and blocks made only of link text (tables of contents) are left out.

Two input kinds: HTML/XML (DocBook and Sphinx HTML, Mallard `.page`) read with
the stdlib `html.parser`, and roff man pages, whose font escapes we strip.
"""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from typing import NamedTuple

BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "td", "th", "caption"}
    | {"title", "desc", "figcaption"}
)
SKIP_TAGS = frozenset({"pre", "script", "style", "screen", "synopsis", "programlisting"})
# DocBook's Publican HTML (debian-handbook) writes paragraphs as <div class="para">.
_PARAGRAPH_DIV_CLASSES = frozenset({"para", "simpara"})
# HTML closes an open <p> or <li> when a sibling of the same kind starts.
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "dt", "dd"})
_NUMBER = re.compile(r"\d+")


class Block(NamedTuple):
    tag: str
    anchor: str  # the element id, "" when absent
    text: str
    signature: tuple


def _signature(tag: str, text: str, inline_count: int) -> tuple:
    return (tag, tuple(_NUMBER.findall(text)), inline_count)


class _OpenBlock:
    def __init__(self, tag: str, anchor: str) -> None:
        self.tag, self.anchor = tag, anchor
        self.parts: list[str] = []
        self.link_chars = 0
        self.inline_count = 0


class _BlockParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.open: list[_OpenBlock] = []
        self.skip_depth = 0
        self.link_depth = 0
        self.div_is_block: list[bool] = []  # one entry per open <div>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            is_block = dict(attrs).get("class") in _PARAGRAPH_DIV_CLASSES
            self.div_is_block.append(is_block)
            if is_block:
                self._open_block("para", attrs)
        elif tag in SKIP_TAGS:
            self.skip_depth += 1
        elif tag in BLOCK_TAGS:
            self._open_block(tag, attrs)
        else:
            if tag == "a":
                self.link_depth += 1
            if self.open:
                self.open[-1].inline_count += 1

    def _open_block(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.open and self.open[-1].tag == tag and tag in _SELF_CLOSING_SIBLINGS:
            self._close()
        elif self.open:
            self._flush(self.open[-1])
        self.open.append(_OpenBlock(tag, dict(attrs).get("id") or ""))

    def _end_block(self, tag: str) -> None:
        if any(block.tag == tag for block in self.open):
            while self.open and self.open[-1].tag != tag:
                self._close()
            self._close()

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.div_is_block and self.div_is_block.pop():
                self._end_block("para")
        elif tag in SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in BLOCK_TAGS:
            self._end_block(tag)
        elif tag == "a":
            self.link_depth = max(0, self.link_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth or not self.open:
            return
        block = self.open[-1]
        block.parts.append(data)
        if self.link_depth:
            block.link_chars += len(data.strip())

    def _flush(self, block: _OpenBlock) -> None:
        text = " ".join("".join(block.parts).split())
        # A block whose words all sit inside links is generated navigation.
        if text and block.link_chars < len(text.replace(" ", "")):
            signature = _signature(block.tag, text, block.inline_count)
            self.blocks.append(Block(block.tag, block.anchor, text, signature))
        block.parts, block.link_chars, block.inline_count = [], 0, 0

    def _close(self) -> None:
        self._flush(self.open.pop())

    def close(self) -> None:
        super().close()
        while self.open:
            self._close()


def html_blocks(markup: str) -> list[Block]:
    """Blocks of an HTML or XML (Mallard, DocBook) document, in document order."""
    parser = _BlockParser()
    parser.feed(markup)
    parser.close()
    return parser.blocks


# --- roff (man pages) ---------------------------------------------------------------

_ROFF_NAMED = {"aq": "'", "lq": "“", "rq": "”", "em": "—", "en": "–", "bu": "•", "co": "©"}
_ROFF_ESCAPE = re.compile(
    r"\\(?:f(?:\[[^\]]*\]|\(..|.)|\((..)|\[([^\]]*)\]|\*(?:\[[^\]]*\]|\(..|.)|s[+-]?\d+|(.))"
)
_ROFF_SIMPLE = {"-": "-", "e": "\\", " ": " ", "~": " ", "0": " ", "'": "'", "`": "`", ".": "."}
_ROFF_PARAGRAPH = frozenset({"PP", "P", "LP", "IP", "HP", "sp", "br", "RS", "RE", "in", "TP"})
_ROFF_FONT_ALTERNATING = frozenset({"BR", "RB", "IR", "RI", "BI", "IB"})
_ROFF_FONT = frozenset({"B", "I", "SM", "SB"})
_ROFF_SKIP_START = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN"}


def _roff_escape(match: re.Match[str]) -> str:
    two_char, bracketed, single = match.group(1), match.group(2), match.group(3)
    if two_char is not None:
        return _ROFF_NAMED.get(two_char, "")
    if bracketed is not None:
        return _ROFF_NAMED.get(bracketed, "")
    if single is not None:
        return _ROFF_SIMPLE.get(single, "")
    return ""  # font changes, strings, size changes


def roff_text(line: str) -> str:
    """Plain text of one roff line: escapes resolved, font changes dropped."""
    line = line.split('\\"', 1)[0]  # \" starts a comment
    return _ROFF_ESCAPE.sub(_roff_escape, line)


def _macro_arguments(rest: str) -> list[str]:
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]


class _RoffReader:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.lines: list[str] = []
        self.tag = "p"
        self.skip_until = ""
        self.tp_label_pending = False

    def flush(self) -> None:
        text = " ".join(" ".join(self.lines).split())
        if text:
            self.blocks.append(Block(self.tag, "", text, _signature(self.tag, text, 0)))
        self.lines, self.tag = [], "p"

    def add_text(self, text: str) -> None:
        self.lines.append(text)
        if self.tp_label_pending:  # the line after .TP is the item's label
            self.tag, self.tp_label_pending = "tp", False
            self.flush()

    def macro(self, name: str, rest: str) -> None:
        if name in _ROFF_SKIP_START:
            self.flush()
            self.skip_until = _ROFF_SKIP_START[name]
        elif name in {"SH", "SS"}:
            self.flush()
            self.tag = name.lower()
            self.add_text(roff_text(" ".join(_macro_arguments(rest))))
            self.flush()
        elif name in _ROFF_PARAGRAPH:
            self.flush()
            self.tp_label_pending = name == "TP"
        elif name in _ROFF_FONT:
            self.add_text(roff_text(" ".join(_macro_arguments(rest))))
        elif name in _ROFF_FONT_ALTERNATING:
            self.add_text(roff_text("".join(_macro_arguments(rest))))

    def line(self, raw: str) -> None:
        if raw.startswith((".", "'")):
            name, _, rest = raw[1:].strip().partition(" ")
            if self.skip_until:
                if name == self.skip_until:
                    self.skip_until = ""
            elif not name.startswith('\\"'):
                self.macro(name, rest)
        elif not self.skip_until:
            self.add_text(roff_text(raw))


def roff_blocks(source: str) -> list[Block]:
    """Blocks of a man page: headings, paragraphs, and .TP labels, in order."""
    reader = _RoffReader()
    for raw in source.splitlines():
        reader.line(raw)
    reader.flush()
    return reader.blocks


def document_blocks(path: str, content: bytes) -> list[Block]:
    """Blocks of a documentation file, chosen by its name (man page or markup)."""
    if path.endswith(".gz"):
        content = gzip.decompress(content)
    text = content.decode("utf-8", errors="replace")
    if "/man/" in path:
        return roff_blocks(text)
    return html_blocks(text)
