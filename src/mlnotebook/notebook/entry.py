"""A notebook entry: one concept, written as Markdown with a YAML front matter block.

An entry file looks like this:

    ---
    term: Adam
    aliases: [adaptive moment estimation]
    code: [mlnotebook.optim.adam:adam_update]
    related: [rmsprop, momentum]
    papers:
      - {title: "...", authors: "...", year: 2015, arxiv: "1412.6980"}
    claims:
      - text: Adam reaches the minimum before plain SGD.
        experiment: mlnotebook.experiments.optimiser_claims:claim_adam_vs_sgd
        checks:
          - {metric: surfaces.ravine.lower_vs_SGD, condition: '== "Adam"'}
          - {metric: test.luong.bleu, condition: "> @test.seq2seq.bleu"}
        verdict: supported
    ---
    ## Idea
    ...

A claim measured only by a long study (hours of training) names its figures file with
`results:` and no `experiment:`; it is judged from that file in every mode.

A check's condition compares the figure with a literal (`< 0.5`, `== "Adam"`) or, after
`@`, with another figure of the same experiment (`> @test.seq2seq.bleu`).

The front matter is data and is validated here; the body is prose with LaTeX between
`$...$` or `$$...$$`. Anything wrong is reported as one `UserError` naming the file and
the line, so a user writing their own entry can find the mistake at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlnotebook.errors import UserError

VERDICTS = ("supported", "contradicted", "conditional", "inconclusive")
# The sections a complete entry has, in the order the site shows them.
SECTIONS = ("Idea", "Equations", "Intuition", "Weaknesses")
_CONDITION = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")
_METRIC = re.compile(r"^[^\s.@]+(\.[^\s.@]+)*$")
_CODE_LINK = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FRONT_KEYS = {"term", "aliases", "code", "related", "papers", "claims", "figures"}
_PAPER_KEYS = {"title", "authors", "year", "venue", "arxiv", "url"}
_CLAIM_KEYS = {"text", "experiment", "checks", "premises", "verdict", "note", "results", "source"}
_CHECK_KEYS = {"metric", "condition", "label"}


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    year: int
    venue: str = ""
    arxiv: str = ""
    url: str = ""


@dataclass(frozen=True)
class Check:
    """One condition on one measured figure, e.g. `ratio_same_lr < 0.5`."""

    metric: str  # dotted path into the experiment's dict: "surfaces.ravine.lower_vs_SGD"
    operator: str  # one of < <= > >= == !=
    value: Any  # the YAML scalar on the right-hand side
    label: str = ""  # when the claim holds under several conditions, which one this is
    reference: str = ""  # set for `> @other.metric`: compare with another measured figure

    @property
    def condition(self) -> str:
        if self.reference:
            return f"{self.operator} @{self.reference}"
        return f"{self.operator} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Claim:
    """A sentence, the experiment measuring it, the conditions, and what the entry states.

    Measured verdict: every check holds -> supported; none -> contradicted; some ->
    conditional (the claim is true only in some of the situations measured). A figure
    measured with an interval decides its check only when the whole interval is on one
    side; otherwise, or when a premise (a condition the experiment needs to test the
    claim at all) fails, the verdict is inconclusive. See `notebook.claims`.
    """

    text: str
    experiment: str  # "package.module:function", a function (quick: bool) -> dict; "" when
    # the figures come only from `results` (a study too long to rerun, such as a training run)
    checks: tuple[Check, ...]
    verdict: str  # what the entry says: one of VERDICTS
    note: str = ""
    results: str = ""  # optional JSON file with full-run figures, e.g. results/translation.json
    source: str = ""  # where the claim comes from ("seed notes", a paper...)
    premises: tuple[Check, ...] = ()  # must hold for the experiment to test the claim


@dataclass(frozen=True)
class Entry:
    slug: str  # file name without .md: the entry's id and page name
    term: str
    body: str  # Markdown
    path: Path
    aliases: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    papers: tuple[Paper, ...] = ()
    claims: tuple[Claim, ...] = ()
    figures: tuple[str, ...] = ()  # image paths the entry shows (relative to the entry's folder)
    builtin: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the entry answers to: slug, term and aliases."""
        return (self.slug, self.term, *self.aliases)

    def sections(self) -> dict[str, str]:
        """The body split at level-two headings: {heading: text}."""
        return split_sections(self.body)

    def missing_sections(self) -> list[str]:
        present = self.sections()
        return [name for name in SECTIONS if not present.get(name, "").strip()]


def split_sections(body: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    current = ""
    for line in body.splitlines():
        heading = re.match(r"^##\s+(.+?)\s*$", line)
        if heading:
            current = heading.group(1)
            sections[current] = ""
        else:
            sections[current] = sections.get(current, "") + line + "\n"
    return sections


# ---- parsing ---------------------------------------------------------------------------------


class _Where:
    """Turns a key path in the front matter into 'file:line' using the YAML node marks."""

    def __init__(self, path: Path, root: yaml.Node | None, first_line: int) -> None:
        self.path, self.root, self.first_line = path, root, first_line

    def error(self, keys: tuple, message: str) -> UserError:
        line = self.first_line + self._node_line(keys)
        return UserError(f"{self.path}:{line}: {message}")

    def _node_line(self, keys: tuple) -> int:
        node, line = self.root, 0
        for key in keys:
            if node is None:
                break
            line = node.start_mark.line
            node = self._child(node, key)
        return node.start_mark.line if node is not None else line

    @staticmethod
    def _child(node: yaml.Node, key: Any) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == key:
                    return value_node
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            return node.value[key]
        return None


def parse_entry(path: Path, text: str | None = None, builtin: bool = False) -> Entry:
    """Read and validate one entry file; a malformed one raises UserError('file:line: ...')."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}:1: not UTF-8 text ({exc.reason})") from None
    front, body, first_line = _split_front_matter(path, text)
    try:
        root = yaml.compose(front)
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}:{line}: invalid YAML front matter: {problem}") from None
    where = _Where(path, root, first_line)
    if not isinstance(data, dict):
        raise UserError(f"{path}:{first_line}: front matter must be a mapping of keys")
    return _build_entry(path, data, body, where, builtin)


def _split_front_matter(path: Path, text: str) -> tuple[str, str, int]:
    """(front matter, body, line number of the front matter's first line)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise UserError(f"{path}:1: an entry starts with a '---' line opening its front matter")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]) + "\n", 2
    raise UserError(f"{path}:1: front matter opened with '---' is never closed by a '---' line")


def _build_entry(path: Path, data: dict, body: str, where: _Where, builtin: bool) -> Entry:
    _no_unknown_keys(data, _FRONT_KEYS, (), where, "front matter")
    term = data.get("term")
    if not isinstance(term, str) or not term.strip():
        raise where.error(("term",), "'term' is required and must be a non-empty string")
    code = _string_list(data, "code", where)
    for index, link in enumerate(code):
        if not _CODE_LINK.match(link):
            raise where.error(
                ("code", index), f"code link {link!r} must look like 'package.module:object'"
            )
    return Entry(
        slug=path.stem,
        term=term.strip(),
        body=body,
        path=path,
        aliases=_string_list(data, "aliases", where),
        code=code,
        related=_string_list(data, "related", where),
        papers=tuple(_paper(p, i, where) for i, p in enumerate(_list(data, "papers", where))),
        claims=tuple(_claim(c, i, where) for i, c in enumerate(_list(data, "claims", where))),
        figures=_string_list(data, "figures", where),
        builtin=builtin,
    )


def _no_unknown_keys(data: dict, allowed: set, keys: tuple, where: _Where, what: str) -> None:
    for key in data:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise where.error((*keys, key), f"unknown key {key!r} in {what} (known: {known})")


def _list(data: dict, key: str, where: _Where) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise where.error((key,), f"'{key}' must be a list")
    return value


def _string_list(data: dict, key: str, where: _Where) -> tuple[str, ...]:
    values = _list(data, key, where)
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise where.error((key, index), f"'{key}' items must be non-empty strings")
    return tuple(v.strip() for v in values)


def _mapping(value: Any, keys: tuple, allowed: set, where: _Where, what: str) -> dict:
    if not isinstance(value, dict):
        raise where.error(keys, f"each {what} must be a mapping of keys")
    _no_unknown_keys(value, allowed, keys, where, what)
    return value


def _required_str(value: dict, key: str, keys: tuple, where: _Where, what: str) -> str:
    text = value.get(key)
    if not isinstance(text, str) or not text.strip():
        raise where.error((*keys, key) if key in value else keys, f"{what} needs a string '{key}'")
    return text.strip()


def _paper(value: Any, index: int, where: _Where) -> Paper:
    keys = ("papers", index)
    value = _mapping(value, keys, _PAPER_KEYS, where, "paper")
    year = value.get("year")
    if not isinstance(year, int) or not 1600 < year < 2100:  # Cauchy 1847 is a source
        raise where.error((*keys, "year"), f"paper 'year' must be a year like 2015, got {year!r}")
    return Paper(
        title=_required_str(value, "title", keys, where, "a paper"),
        authors=_required_str(value, "authors", keys, where, "a paper"),
        year=year,
        venue=str(value.get("venue", "")),
        arxiv=str(value.get("arxiv", "")),
        url=str(value.get("url", "")),
    )


def _claim(value: Any, index: int, where: _Where) -> Claim:
    keys = ("claims", index)
    value = _mapping(value, keys, _CLAIM_KEYS, where, "claim")
    results = str(value.get("results", "") or "").strip()
    experiment = str(value.get("experiment", "") or "").strip()
    if not experiment and not results:
        raise where.error(keys, "a claim needs an 'experiment', a 'results' file, or both")
    if experiment and not _CODE_LINK.match(experiment):
        raise where.error(
            (*keys, "experiment"), f"experiment {experiment!r} must look like 'module:function'"
        )
    verdict = value.get("verdict")
    if verdict not in VERDICTS:
        raise where.error(
            (*keys, "verdict"),
            f"claim verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}",
        )
    checks = value.get("checks")
    if not isinstance(checks, list) or not checks:
        raise where.error((*keys, "checks"), "a claim needs a non-empty list of 'checks'")
    return Claim(
        text=_required_str(value, "text", keys, where, "a claim"),
        experiment=experiment,
        checks=tuple(_check(c, (*keys, "checks", i), where) for i, c in enumerate(checks)),
        verdict=verdict,
        note=str(value.get("note", "")).strip(),
        results=results,
        source=str(value.get("source", "")).strip(),
        premises=_premises(value.get("premises"), keys, where),
    )


def _premises(value: Any, keys: tuple, where: _Where) -> tuple[Check, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.error((*keys, "premises"), "'premises' must be a list of checks")
    return tuple(_check(c, (*keys, "premises", i), where) for i, c in enumerate(value))


def _check(value: Any, keys: tuple, where: _Where) -> Check:
    value = _mapping(value, keys, _CHECK_KEYS, where, "check")
    metric = _required_str(value, "metric", keys, where, "a check")
    condition = value.get("condition")
    match = _CONDITION.match(str(condition)) if condition is not None else None
    if match is None:
        raise where.error(
            (*keys, "condition"),
            f"condition {condition!r} must be an operator (< <= > >= == !=) and a value",
        )
    label = str(value.get("label", "")).strip()
    right = match.group(2)
    if right.startswith("@"):  # another figure of the same experiment: `> @bleu.seq2seq`
        reference = right[1:].strip()
        if not _METRIC.match(reference):
            raise where.error(
                (*keys, "condition"), f"{right!r} must name a figure like '@test.seq2seq.bleu'"
            )
        return Check(metric, match.group(1), None, label, reference)
    try:
        # YAML 1.1 reads "1e-8" as a string; a bare number is meant as a number
        operand = _number(right) if right[0] not in "'\"" else yaml.safe_load(right)
    except yaml.YAMLError:
        raise where.error((*keys, "condition"), f"cannot read the value in {condition!r}") from None
    return Check(metric, match.group(1), operand, label)


def _number(text: str) -> Any:
    """'1e-8' -> 1e-08, '3' -> 3; anything else as YAML reads it (true, null, names)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return yaml.safe_load(text)


def entry_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.md") if p.is_file())


def load_folder(folder: Path, builtin: bool = False) -> list[Entry]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"notes folder {folder} does not exist or is not a directory")
    return [parse_entry(p, builtin=builtin) for p in entry_files(folder)]
