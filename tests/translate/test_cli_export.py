"""`mlnb export --ctranslate2`: the exported run translates like `mlnb translate --beam 1`.

A tiny Transformer is trained once for the module on the digit corpus of
test_cli_translate (a few seconds), exported, and run through CTranslate2 and
sentencepiece the way the verb's help tells a user to.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import ctranslate2
import pytest
import sentencepiece

from mlnotebook.cli import main
from mlnotebook.translate import api
from mlnotebook.translate.checkpoint import load_checkpoint, save_checkpoint
from mlnotebook.translate.model_registry import VocabInfo, build_model
from tests.translate.test_cli_translate import GERMAN, train_toy_run

SENTENCES = [
    "eins",
    "zwei drei",
    "vier fünf sechs",
    "sieben acht neun null",
    "null null eins eins zwei",
    "neun acht sieben sechs fünf vier",
    "drei",
    "fünf zwei acht",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_toy_run(tmp_path_factory.mktemp("export"))


def _ct2_greedy(model_dir: Path, sentences: list[str], a: float, b: int) -> list[str]:
    """Greedy CTranslate2 translations with our per-sentence cap a * source pieces + b."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    translator = ctranslate2.Translator(str(model_dir), device="cpu", intra_threads=1)
    outputs = []
    for pieces in sp.encode(sentences, out_type=str):
        cap = max(int(a * len(pieces)) + b, 1)
        result = translator.translate_batch(
            [pieces], beam_size=1, max_decoding_length=cap, min_decoding_length=0
        )
        outputs.append(sp.decode(result[0].hypotheses[0]))
    return outputs


def test_exported_run_translates_like_mlnb_translate(run, tmp_path, capsys):
    out_dir = tmp_path / "ct2"
    assert main(["export", "--model", str(run), "--ctranslate2", str(out_dir)]) == 0
    assert str(out_dir) in capsys.readouterr().out
    assert {"model.bin", "config.json", "tokenizer.model"} <= {p.name for p in out_dir.iterdir()}
    assert (out_dir / "tokenizer.model").read_bytes() == (run / "tokenizer.model").read_bytes()

    assert main(["translate", "--model", str(run), "--beam", "1", *SENTENCES]) == 0
    ours = capsys.readouterr().out.splitlines()
    search = api.load_model(run).config.search
    theirs = _ct2_greedy(out_dir, SENTENCES, search.max_len_a, search.max_len_b)
    assert theirs == ours
    assert len(set(ours)) > 3  # the model says different things for different inputs
    assert any(word in " ".join(ours) for word in ("un", "deux", "trois"))  # and some French


def test_int8_export_and_force(run, tmp_path, capsys):
    out_dir = tmp_path / "ct2"
    argv = ["export", "--model", str(run), "--ctranslate2", str(out_dir)]
    assert main([*argv, "--quantization", "int8"]) == 0
    int8_size = (out_dir / "model.bin").stat().st_size
    search = api.load_model(run).config.search
    assert len(_ct2_greedy(out_dir, SENTENCES[:2], search.max_len_a, search.max_len_b)) == 2
    capsys.readouterr()
    assert main(argv) == 2  # the folder exists
    err = capsys.readouterr().err
    assert "exists" in err and err.count("\n") == 1
    assert main([*argv, "--force"]) == 0
    assert (out_dir / "model.bin").stat().st_size > 2 * int8_size  # float32 replaced int8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct2"]  # nothing left beside it


def test_non_transformer_runs_are_refused_in_one_line(run, tmp_path, capsys):
    recurrent = tmp_path / "luong"
    shutil.copytree(run, recurrent)
    payload = load_checkpoint(run / "best.pt")
    params = {"embedding_dim": 16, "hidden_size": 16, "dropout": 0.0}
    size = api.load_model(run).tokenizer.vocab_size
    payload["config"]["model"] = {"family": "luong", **params}
    payload["config"]["schedule"]["d_model"] = 32  # the warm-up read it from the Transformer
    payload["model"] = build_model("luong", params, VocabInfo(size=size)).state_dict()
    save_checkpoint(recurrent / "best.pt", payload)
    assert api.load_model(recurrent).translate([GERMAN[1]])  # a working run, just not a Transformer

    code = main(["export", "--model", str(recurrent), "--ctranslate2", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "'luong' model" in err and "only Transformer" in err
    assert not (tmp_path / "out").exists()
