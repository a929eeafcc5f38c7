"""`mlnb train`, `mlnb translate` and `mlnb evaluate` end to end on a tiny made-up corpus.

The corpus spells digit sequences in German and in French ("drei eins" ->
"trois un"); one tiny Transformer is trained once for the whole module (a few
seconds) from the shipped configs/toy.yaml with overrides.
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnotebook.cli import main
from mlnotebook.translate import api
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.evaluate import corpus_bleu, corpus_chrf, read_tsv_pairs

ROOT = Path(__file__).resolve().parents[2]
GERMAN = "null eins zwei drei vier fünf sechs sieben acht neun".split()
FRENCH = "zéro un deux trois quatre cinq six sept huit neuf".split()
SMALL = [
    "data.vocab_size=60",
    "data.batch_tokens=400",
    "model.d_model=32",
    "model.d_ff=64",
    "model.num_heads=2",
    "model.dropout=0.0",
    "schedule.warmup_steps=20",
    "train.valid_every=20",
    "train.checkpoint_every=20",
    "train.bleu_sentences=10",
    "train.device=cpu",
    "train.progress=false",
]


def _write_corpus(folder: Path) -> None:
    rng = random.Random(0)
    folder.mkdir()
    for split, count in (("train", 400), ("valid", 30), ("test", 30)):
        lines = []
        for _ in range(count):
            digits = [rng.randrange(10) for _ in range(rng.randint(1, 5))]
            lines.append(
                " ".join(GERMAN[d] for d in digits) + "\t" + " ".join(FRENCH[d] for d in digits)
            )
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")


def train_toy_run(base: Path) -> Path:
    """A 40-step toy Transformer on digit words, trained through `mlnb train`, in base/run."""
    _write_corpus(base / "corpus")
    run = base / "run"
    args = [f"data.corpus={base / 'corpus'}", f"train.out_dir={run}", "train.max_steps=40"]
    assert main(["train", str(ROOT / "configs" / "toy.yaml"), *args, *SMALL]) == 0
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_toy_run(tmp_path_factory.mktemp("cli"))


def _run(capsys, argv: list[str]) -> tuple[int, list[str], str]:
    code = main(argv)
    captured = capsys.readouterr()
    # Lines as the line protocol defines them: ended by "\n" only.
    return code, captured.out.split("\n")[:-1], captured.err


def test_train_writes_a_self_contained_run_folder(trained: Path, tmp_path: Path):
    names = {p.name for p in trained.iterdir()}
    assert {"best.pt", "last.pt", "config.yaml", "tokenizer.model", "test.tsv"} <= names
    assert {"metrics.jsonl", "loss.png"} <= names
    assert load_checkpoint(trained / "last.pt")["run_state"]["step"] == 40
    assert len(read_tsv_pairs(trained / "test.tsv")) == 30
    # the folder works after being moved
    moved = tmp_path / "moved"
    shutil.copytree(trained, moved)
    assert len(api.load_model(moved).translate(["eins zwei"])) == 1


def test_translate_arguments_keep_line_order_and_empty_lines(trained, capsys):
    code, out, _ = _run(capsys, ["translate", "--model", str(trained), "eins", "", "drei"])
    assert code == 0
    assert len(out) == 3 and out[1] == ""
    expected = api.load_model(trained).translate(["eins", "", "drei"])
    assert out == expected == api.translate(trained, ["eins", "", "drei"])


def test_translate_reads_stdin(trained, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("vier fünf\n\nsechs\n"))
    code, out, _ = _run(capsys, ["translate", "--model", str(trained), "--beam", "1"])
    assert code == 0 and len(out) == 3 and out[1] == ""


def test_unseen_characters_become_unk_without_a_crash(trained, capsys):
    translator = api.load_model(trained)
    assert translator.tokenizer.unk_id in translator.tokenizer.encode(["漢字 ✓"])[0]
    code, out, _ = _run(capsys, ["translate", "--model", str(trained), "漢字 ✓ Ärger"])
    assert code == 0 and len(out) == 1


def test_long_lines_are_truncated_with_a_note(trained, capsys):
    code, out, err = _run(capsys, ["translate", "--model", str(trained), "eins " * 300])
    assert code == 0 and len(out) == 1
    assert "sentence 1 has" in err and "data.max_src_len" in err


def test_beam_one_is_greedy_and_wider_beams_run(trained):
    translator = api.load_model(trained)
    sentences = ["eins zwei", "drei vier fünf", "null"]
    greedy = translator.translate_detailed(sentences, beam=1)
    single = [translator.translate_detailed([s], beam=1)[0] for s in sentences]
    assert [g.text for g in greedy] == [s.text for s in single]
    beamed = translator.translate_detailed(sentences, beam=4, length_penalty=0.0)
    assert len(beamed) == 3 and all(isinstance(b.text, str) for b in beamed)


def test_translating_without_attention_gives_the_same_text(trained):
    translator = api.load_model(trained)
    sentences = ["eins zwei", "drei vier fünf", "null", "zwei zwei zwei eins"]
    for beam in (1, 3):
        full = translator.translate_detailed(sentences, beam=beam)
        bare = translator.translate_detailed(sentences, beam=beam, with_attention=False)
        assert [b.text for b in bare] == [f.text for f in full]
        assert [b.log_prob for b in bare] == pytest.approx([f.log_prob for f in full], abs=1e-5)
        assert all(b.attention is None for b in bare)
        assert all(f.attention is not None for f in full)
        assert translator.translate(sentences, beam=beam) == [f.text for f in full]


def test_attention_maps_are_written_per_sentence(trained, capsys, tmp_path):
    target = tmp_path / "att.png"
    argv = ["translate", "--model", str(trained), "--attention", str(target), "eins", "", "zwei"]
    code, out, err = _run(capsys, argv)
    assert code == 0 and len(out) == 3
    for name in ("att-1.png", "att-3.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "att-2.png").exists() and "empty input" in err
    translation = api.load_model(trained).translate_detailed(["eins zwei"])[0]
    rows, cols = translation.attention.shape
    assert (rows, cols) == (len(translation.target_pieces), len(translation.source_pieces))
    assert torch.allclose(translation.attention.sum(-1), torch.ones(rows), atol=1e-4)


def test_evaluate_on_the_saved_test_split_and_on_a_user_file(trained, capsys, tmp_path):
    code, out, _ = _run(capsys, ["evaluate", "--model", str(trained), "--beam", "2"])
    assert code == 0 and out[0].startswith("BLEU = ") and out[1].startswith("chrF = ")
    assert "nrefs:1|case:mixed" in out[0] and "nc:6" in out[1]
    pairs = read_tsv_pairs(trained / "test.tsv")
    outputs = api.load_model(trained).translate([de for de, _ in pairs], beam=2)
    references = [fr for _, fr in pairs]
    assert out[0] == str(corpus_bleu(outputs, references))
    assert out[1] == str(corpus_chrf(outputs, references))

    user = tmp_path / "mine.tsv"
    user.write_text("eins\tun\nzwei drei\tdeux trois\n")
    code, out, _ = _run(capsys, ["evaluate", "--model", str(trained), "--test", str(user)])
    assert code == 0 and out[0].startswith("BLEU = ")
    user.write_text("eins un\n")
    code, _, err = _run(capsys, ["evaluate", "--model", str(trained), "--test", str(user)])
    assert code == 2 and "mine.tsv:1" in err and err.count("\n") == 1


def test_resume_continues_the_run(trained, capsys, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    config, out_dir = str(run / "config.yaml"), f"train.out_dir={run}"
    code, _, _ = _run(capsys, ["train", config, out_dir, "train.max_steps=50", "--resume"])
    assert code == 0
    assert load_checkpoint(run / "last.pt")["run_state"]["step"] == 50
    assert load_checkpoint(trained / "last.pt")["run_state"]["step"] == 40
    code, _, err = _run(capsys, ["train", config, out_dir])
    assert code == 2 and "already holds a run" in err and "--resume" in err


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x85", "\x1e", "\x0b"])
def test_only_newlines_end_a_line_on_stdin(trained, capsys, monkeypatch, separator):
    text = f"eins{separator}zwei\ndrei\r\n\nvier{separator}\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode()), "utf-8"))
    code, out, _ = _run(capsys, ["translate", "--model", str(trained), "--beam", "1"])
    assert code == 0 and len(out) == 4 and out[2] == ""


def test_bad_utf8_on_stdin_is_replaced_and_named_and_no_line_is_lost(trained, capsys, monkeypatch):
    raw = b"eins\nzw\xffei\n\xc3\ndrei\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), "utf-8"))
    code, out, err = _run(capsys, ["translate", "--model", str(trained), "--beam", "1"])
    assert code == 0 and len(out) == 4
    assert "line(s) 2, 3 held bytes that are not UTF-8" in err


def test_bad_utf8_in_an_argument_is_replaced(trained, capsys):
    broken = b"zw\xffei".decode("utf-8", errors="surrogateescape")  # as sys.argv holds it
    code, out, err = _run(capsys, ["translate", "--model", str(trained), "eins", broken])
    assert code == 0 and len(out) == 2 and "argument(s) 2" in err


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
@settings(max_examples=200, deadline=None)
def test_split_lines_gives_one_item_per_newline(text):
    from mlnotebook.translate.commands import split_lines

    lines = split_lines(text)
    assert len(lines) == text.count("\n") + (0 if text == "" or text.endswith("\n") else 1)
    assert all("\n" not in line for line in lines)


def test_user_errors_are_one_line_with_exit_code_2(trained, capsys, tmp_path):
    toy = str(ROOT / "configs" / "toy.yaml")
    cases = [
        (["train", str(tmp_path / "none.yaml")], "config file not found"),
        (["train", toy, "train.max_steps=0"], "train.max_steps"),
        (["train", toy, "model.layers=3"], "model.layers"),
        (["translate", "--model", str(tmp_path / "nowhere"), "x"], "model folder not found"),
        (["translate", "--model", str(trained), "--beam", "0", "x"], "--beam"),
        (["translate", "--model", str(trained), "--length-penalty", "nan", "x"], "finite"),
        (["translate", "--model", str(trained), "--length-penalty", "-100", "x"], ">= 0"),
        (["evaluate", "--model", str(trained), "--length-penalty", "inf"], "finite"),
    ]
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    (broken / "best.pt").write_bytes((trained / "best.pt").read_bytes()[:300])
    cases.append((["translate", "--model", str(broken), "x"], "corrupt"))
    for argv, expected in cases:
        code, _, err = _run(capsys, argv)
        assert code == 2, argv
        assert expected in err and err.count("\n") == 1, err
