"""Maths on the site: LaTeX between dollar signs becomes MathML, which browsers draw natively.

No script and no web font is loaded: Chromium, Firefox and Safari all lay out MathML Core
themselves, so a page opened from disk shows its equations with nothing fetched.

Markdown would mangle TeX (`a_t * b_t` turns into emphasis), so maths is lifted out
*before* the Markdown parser sees the text and put back afterwards:

    "the step $\\eta g_t$ ..."  ->  "the step MLNBMATH0END ..."  ->  Markdown -> HTML
                                ->  "the step <math>...</math> ..."

The placeholder is plain letters and digits, which Markdown leaves alone. Dollar signs
inside code (`...` spans and ``` fences) are not maths and are left as they are. An
inline span follows the usual TeX-in-Markdown rule: no space just inside either dollar,
and no digit straight after the closing one, so "costs $5 and $6" stays text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from latex2mathml.converter import convert

from mlnotebook.errors import UserError

# One alternation, tried left to right at each position: code first, so a dollar inside
# code never opens maths; then display maths before inline maths.
_SPANS = re.compile(
    r"(?P<fence>^```.*?^```)"
    r"|(?P<code>`[^`\n]+`)"
    r"|\$\$(?P<display>.+?)\$\$"
    r"|(?<![\\$])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s\\$])?)\$(?!\d)",
    re.DOTALL | re.MULTILINE,
)
_PLACEHOLDER = re.compile(r"MLNBMATH(\d+)END")
# latex2mathml keeps a command it does not know as text: <mi>\foo</mi>.
_UNKNOWN_COMMAND = re.compile(r">(\\[A-Za-z]+)<")
# Standard TeX operator names latex2mathml lacks, spelled the long way it understands.
_OPERATOR_NAMES = re.compile(r"\\(arg)(?![A-Za-z])")


@dataclass(frozen=True)
class MathSpan:
    tex: str
    display: bool


def protect_maths(markdown: str) -> tuple[str, list[MathSpan]]:
    """Replace each maths span by a placeholder; return the new text and the spans in order."""
    spans: list[MathSpan] = []

    def replace(match: re.Match) -> str:
        if match.group("fence") or match.group("code"):
            return match.group(0)
        display = match.group("display") is not None
        tex = match.group("display") if display else match.group("inline")
        spans.append(MathSpan(tex.strip(), display))
        return f"MLNBMATH{len(spans) - 1}END"

    return _SPANS.sub(replace, markdown), spans


def latex_to_mathml(tex: str, display: bool = False) -> str:
    """One `<math>` element, with the TeX kept as an annotation (copyable, read by tools).

    Raises ValueError naming a command latex2mathml does not know, rather than
    showing `\\foo` to the reader as if it were a variable.
    """
    try:
        spelled = _OPERATOR_NAMES.sub(r"\\operatorname{\1}", tex)
        mathml = convert(spelled, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own, undocumented exception types
        raise ValueError(f"cannot read the TeX {tex!r} ({exc})") from None
    unknown = _UNKNOWN_COMMAND.search(mathml)
    if unknown:
        raise ValueError(f"unknown TeX command {unknown.group(1)} in {tex!r}")
    # <math ...><mrow>..</mrow></math> -> <math ...><semantics><mrow>..</mrow><annotation/>..
    opening_end = mathml.index(">") + 1
    annotation = f'<annotation encoding="application/x-tex">{html.escape(tex)}</annotation>'
    body = mathml[opening_end : -len("</math>")]
    return f"{mathml[:opening_end]}<semantics>{body}{annotation}</semantics></math>"


def restore_maths(rendered: str, spans: list[MathSpan], where: str) -> str:
    """Put MathML where the placeholders are; `where` (a file name) is named in errors."""

    def replace(match: re.Match) -> str:
        span = spans[int(match.group(1))]
        try:
            return latex_to_mathml(span.tex, span.display)
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None

    return _PLACEHOLDER.sub(replace, rendered)


def inline_maths_html(text: str, where: str) -> str:
    """Escape a short plain string (a claim, a title) and render any `$...$` in it."""
    protected, spans = protect_maths(text)
    return restore_maths(html.escape(protected), spans, where)
