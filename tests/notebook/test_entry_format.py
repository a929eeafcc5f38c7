"""Malformed entries fail with 'file:line: what', and a user's folder merges with the built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlnotebook.errors import UserError
from mlnotebook.notebook.entry import parse_entry
from mlnotebook.notebook.registry import load_notebook

GOOD = """\
---
term: Widget norm
aliases: [wn]
code: [mlnotebook.nn.layer_norm:LayerNorm]
related: [layer-normalisation]
papers:
  - {title: A paper, authors: A. Author, year: 2020, arxiv: "2001.00001"}
claims:
  - text: It works.
    experiment: mlnotebook.experiments.claims_text:claim_bleu_word_order
    checks:
      - {metric: bleu_identical, condition: "> 99"}
      - {metric: bleu_paraphrase, condition: "< @bleu_scrambled"}
    verdict: supported
---
## Idea
x
"""
CHECKS = GOOD[GOOD.index("    checks:") : GOOD.index("    verdict")]


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_entry_parses(tmp_path: Path) -> None:
    entry = parse_entry(_write(tmp_path, "widget-norm.md", GOOD))
    assert (entry.slug, entry.term, entry.aliases) == ("widget-norm", "Widget norm", ("wn",))
    first, second = entry.claims[0].checks
    assert (first.operator, first.value, first.reference) == (">", 99, "")
    assert (second.operator, second.reference) == ("<", "bleu_scrambled")
    assert second.condition == "< @bleu_scrambled"


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("term: Widget norm\n", "term: ''\n", 2, "'term' is required"),
        ("aliases: [wn]\n", "alias: [wn]\n", 3, "unknown key 'alias'"),
        ("code: [mlnotebook.nn.layer_norm:LayerNorm]", "code: [LayerNorm]", 4, "code link"),
        ("year: 2020", "year: twenty", 7, "paper 'year'"),
        ("verdict: supported", "verdict: true-ish", 14, "claim verdict must be one of"),
        ('condition: "> 99"', 'condition: "about 99"', 12, "must be an operator"),
        ('condition: "< @bleu_scrambled"', 'condition: "< @"', 13, "must name a figure"),
        ("experiment: mlnotebook", "experiment: not a link mlnotebook", 10, "must look like"),
        (CHECKS, "    checks: []\n", 11, "non-empty list of 'checks'"),
        ("aliases: [wn]\n", "aliases: [wn\n", 4, "invalid YAML"),
    ],
)
def test_malformed_entry_names_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = _write(tmp_path, "bad.md", GOOD.replace(old, new, 1))
    with pytest.raises(UserError) as caught:
        parse_entry(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("condition", "value"),
    [("< 1e-8", 1e-8), ("> 3", 3), ("== true", True), ('== "Adam"', "Adam"), ("== Adam", "Adam")],
)
def test_condition_values(tmp_path: Path, condition: str, value) -> None:
    text = GOOD.replace('condition: "> 99"', f"condition: '{condition}'")
    check = parse_entry(_write(tmp_path, "c.md", text)).claims[0].checks[0]
    assert check.value == value and type(check.value) is type(value)


def test_missing_front_matter(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"bad\.md:1: an entry starts with a '---'"):
        parse_entry(_write(tmp_path, "bad.md", "## Idea\nno front matter\n"))
    with pytest.raises(UserError, match=r"bad\.md:1: front matter opened .* never closed"):
        parse_entry(_write(tmp_path, "bad.md", "---\nterm: x\n## Idea\n"))


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    """Whatever a user writes, the parser either returns an entry or raises UserError."""
    try:
        parse_entry(Path("user.md"), text)
    except UserError as exc:
        assert str(exc).startswith("user.md:")


def test_user_folder_merges_and_may_replace_a_builtin(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    _write(notes, "widget-norm.md", GOOD)
    rewritten = GOOD.replace("term: Widget norm", "term: Adam").replace(
        "aliases: [wn]", "aliases: []"
    )
    _write(notes, "adam.md", rewritten)
    builtin = load_notebook()
    merged = load_notebook(notes)
    assert len(merged.entries) == len(builtin.entries) + 1
    assert merged.get("wn").path == notes / "widget-norm.md"
    assert not merged.get("adam").builtin  # the user's adam.md replaces the built-in one
    assert merged.get("rmsprop").builtin


def test_user_entry_reusing_a_builtin_name_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    _write(notes, "my-adam.md", GOOD.replace("aliases: [wn]", "aliases: [ADAM]"))
    with pytest.raises(UserError, match=r"my-adam\.md: name 'adam' is already used by .*adam\.md"):
        load_notebook(notes)


def test_missing_notes_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_notebook(tmp_path / "absent")
