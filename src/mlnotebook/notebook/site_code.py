"""The code beside the prose: each code link's source, read from the installed package.

Because the source comes from `inspect` at build time and not from a copy in the entry,
the page can never drift from the code: rename a function and the build fails, edit it
and the next build shows the edit. Pygments colours it with CSS classes whose rules go
into the site's own stylesheet (`stylesheet()`), so nothing is loaded from elsewhere.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import mlnotebook
from mlnotebook.errors import UserError
from mlnotebook.notebook.registry import CodeLink, resolve_code

_STYLE = "friendly"
_PACKAGE_PARENT = Path(mlnotebook.__file__).resolve().parent.parent


@dataclass(frozen=True)
class CodeBlock:
    link: str
    location: str  # "mlnotebook/optim/sgd.py:12-40", relative so builds are reproducible
    html: str  # the highlighted source, line numbers as in the file


def display_path(file: str) -> str:
    path = Path(file).resolve()
    try:
        return path.relative_to(_PACKAGE_PARENT).as_posix()
    except ValueError:
        return path.name


def code_block(link: str, where: str) -> CodeBlock:
    """Resolve and highlight one code link; a broken link is a UserError naming `where`."""
    try:
        code: CodeLink = resolve_code(link)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    last = code.line + code.source.count("\n") - 1
    formatter = HtmlFormatter(
        style=_STYLE, cssclass="highlight", linenos="inline", linenostart=code.line, wrapcode=True
    )
    return CodeBlock(
        link=link,
        location=f"{display_path(code.file)}:{code.line}-{last}",
        html=highlight(code.source, PythonLexer(), formatter),
    )


def code_figure(block: CodeBlock) -> str:
    return (
        f'<figure class="source" id="code-{html.escape(block.link.replace(":", "-"))}">'
        f"<figcaption><code>{html.escape(block.link)}</code>"
        f'<span class="location">{html.escape(block.location)}</span></figcaption>'
        f"{block.html}</figure>"
    )


def stylesheet() -> str:
    """Pygments' colour rules for the `.highlight` blocks."""
    return HtmlFormatter(style=_STYLE, cssclass="highlight").get_style_defs(".highlight")
