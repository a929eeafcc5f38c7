"""`mlnb notebook ...` end to end through `mlnotebook.cli.main`, with the user's folder in tmp."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from mlnotebook.cli import main
from mlnotebook.notebook.entry import parse_entry
from mlnotebook.notebook.registry import load_notebook
from mlnotebook.notebook.search import search

# A user entry whose claims run in milliseconds: BLEU of fixed sentences.
FAST_ENTRY = """\
---
term: Word salad
code: [mlnotebook.translate.evaluate:corpus_bleu]
claims:
  - text: Shuffled words keep little BLEU.
    experiment: mlnotebook.experiments.claims_text:claim_bleu_word_order
    checks:
      - {{metric: bleu_scrambled, condition: "< 50"}}
      - {{metric: bleu_paraphrase, condition: "< @bleu_scrambled"}}
    verdict: {verdict}
---
## Idea
Words in the wrong order.
"""


@pytest.fixture(autouse=True)
def _user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default notes folder into tmp and clear MLNB_NOTES."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MLNB_NOTES", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "data" / "mlnotebook" / "notes"


def _notes(tmp_path: Path, verdict: str = "supported") -> Path:
    folder = tmp_path / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "word-salad.md").write_text(FAST_ENTRY.format(verdict=verdict), encoding="utf-8")
    return folder


def test_list_shows_builtin_and_user_entries(tmp_path: Path, capsys) -> None:
    assert main(["notebook", "--notes", str(_notes(tmp_path)), "list"]) == 0
    out = capsys.readouterr().out
    assert "Adam and AdamW" in out and "Word salad" in out and "Transformer" in out


@pytest.mark.parametrize("name", [["adam"], ["ADAM"], ["adaptive", "moment", "estimation"]])
def test_show_by_alias(name: list[str], capsys) -> None:
    assert main(["notebook", "show", *name]) == 0
    out = capsys.readouterr().out
    assert "Adam and AdamW" in out
    assert "Kingma" in out and "1412.6980" in out  # papers
    assert "mlnotebook.optim.adam:adam_update" in out  # code link
    assert "contradicted" in out and "prefers flat minima" in out  # claims and stated verdicts
    assert r"\hat m_t" in out  # equations as LaTeX source


def test_show_unknown_term_is_one_line_error(capsys) -> None:
    assert main(["notebook", "show", "flux", "capacitor"]) == 2
    err = capsys.readouterr().err
    assert "no notebook entry named 'flux capacitor'" in err and len(err.splitlines()) == 1


def test_notes_from_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLNB_NOTES", str(_notes(tmp_path)))
    assert main(["notebook", "show", "word", "salad"]) == 0
    assert "Words in the wrong order" in capsys.readouterr().out


def test_missing_notes_folder(tmp_path: Path, capsys) -> None:
    assert main(["notebook", "list", "--notes", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_search_ranks_names_above_mentions(capsys) -> None:
    hits = search(load_notebook(), "layer normalisation")
    assert hits[0].entry.slug == "layer-normalisation"
    assert "transformer" in [h.entry.slug for h in hits]  # mentions it in its body
    assert search(load_notebook(), "warmup")[0].entry.slug == "learning-rate-warmup"
    assert main(["notebook", "search", "beam"]) == 0
    assert capsys.readouterr().out.startswith("beam-search")
    assert main(["notebook", "search", "zzyzx"]) == 0
    assert "no entry mentions 'zzyzx'" in capsys.readouterr().out


def test_new_writes_a_scaffold_that_parses_and_refuses_to_overwrite(_user_data: Path, capsys):
    assert main(["notebook", "new", "Focal", "loss"]) == 0
    path = _user_data / "focal-loss.md"
    assert str(path) in capsys.readouterr().out
    entry = parse_entry(path)
    assert entry.term == "Focal loss" and entry.missing_sections() == []
    assert load_notebook(_user_data).get("focal loss").path == path
    before = path.read_text(encoding="utf-8")
    assert main(["notebook", "new", "Focal", "loss"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == before
    assert main(["notebook", "show", "focal", "loss"]) == 0  # the default folder is merged


def test_new_refuses_a_term_the_notebook_has(capsys) -> None:
    assert main(["notebook", "new", "adaptive", "moment", "estimation"]) == 2
    assert "already the entry 'adam'" in capsys.readouterr().err


def test_new_term_with_yaml_characters(tmp_path: Path) -> None:
    assert main(["notebook", "--notes", str(tmp_path), "new", "k-means: [clustering]"]) == 0
    assert parse_entry(tmp_path / "k-means-clustering.md").term == "k-means: [clustering]"


def test_check_agreeing_claims_writes_json(tmp_path: Path, capsys) -> None:
    notes, report = _notes(tmp_path), tmp_path / "out" / "check.json"
    code = main(["notebook", "check", "--notes", str(notes), "--json", str(report), "word-salad"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Shuffled words keep little BLEU" in out and "OK" in out and "DISAGREES" not in out
    (result,) = json.loads(report.read_text(encoding="utf-8"))
    assert (result["entry"], result["stated"], result["measured"]) == (
        "word-salad",
        "supported",
        "supported",
    )
    paraphrase = result["checks"][1]
    assert paraphrase["holds"] and paraphrase["measured"] < paraphrase["compared_with"]


def test_check_disagreement_exits_1(tmp_path: Path, capsys) -> None:
    notes = _notes(tmp_path, verdict="contradicted")
    assert main(["notebook", "--notes", str(notes), "check", "word salad"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREES" in out and "1 disagree" in out


def test_build_passes_notebook_and_results_to_the_site(tmp_path: Path, monkeypatch, capsys):
    calls = []

    def build_site(notebook, out_dir, results=None, experiment_figures=None):
        calls.append((notebook, out_dir, results, experiment_figures))
        return out_dir / "index.html"

    site = types.ModuleType("mlnotebook.notebook.site")
    site.build_site = build_site
    monkeypatch.setitem(sys.modules, "mlnotebook.notebook.site", site)
    assert main(["notebook", "build", str(tmp_path / "site"), "--no-run"]) == 0
    assert f"site written to {tmp_path / 'site' / 'index.html'}" in capsys.readouterr().out
    notebook, out_dir, results, figures = calls[0]
    assert "adam" in notebook.entries and out_dir == tmp_path / "site"
    assert results is None and figures is None


def test_build_hands_each_experiments_figures_to_the_site(tmp_path: Path, monkeypatch):
    from mlnotebook.notebook import commands

    calls = []
    figures = {"some.module:experiment": {"svg": "<svg/>"}}
    monkeypatch.setattr(commands, "run_claims", lambda *args: (["judged"], figures))
    monkeypatch.setattr(
        "mlnotebook.notebook.site.build_site",
        lambda notebook, out_dir, results, experiment_figures: (
            calls.append((results, experiment_figures)) or out_dir / "index.html"
        ),
    )
    assert main(["notebook", "build", str(tmp_path / "site")]) == 0
    assert calls == [(["judged"], figures)]
