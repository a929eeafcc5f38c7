"""The joint sentencepiece tokenizer: fixed special ids, round trips, unk, determinism."""

from __future__ import annotations

import random

import pytest

from mlnotebook.errors import UserError
from mlnotebook.translate.tokenizer import Tokenizer, TokenizerConfig


def _pairs(count: int = 400) -> list[tuple[str, str]]:
    rng = random.Random(0)
    german = "der die das haus katze hund öffnen datei speichern fenster".split()
    french = "le la les maison chat chien ouvrir fichier enregistrer fenêtre".split()
    return [
        (" ".join(rng.choices(german, k=6)), " ".join(rng.choices(french, k=6)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.train(_pairs(), TokenizerConfig(vocab_size=80))


def test_special_ids_are_fixed(tokenizer):
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert 8 < tokenizer.vocab_size <= 80


def test_round_trip_and_specials_ignored_in_decode(tokenizer):
    texts = ["die katze öffnen datei", "le chat ouvrir fichier"]
    ids = tokenizer.encode(texts)
    assert all(min(seq) > 3 for seq in ids)  # no specials inside encoded text
    assert tokenizer.decode(ids) == texts
    assert tokenizer.decode([[2, *ids[0], 3, 0, 0]]) == texts[:1]


def test_unseen_characters_become_unk(tokenizer):
    ids = tokenizer.encode(["katze 漢字 ☃"])[0]
    assert tokenizer.unk_id in ids


def test_training_is_deterministic_and_save_load_round_trips(tokenizer, tmp_path):
    again = Tokenizer.train(_pairs(), TokenizerConfig(vocab_size=80))
    assert again.model_proto == tokenizer.model_proto
    path = tokenizer.save(Tokenizer.path_beside(tmp_path / "run" / "best.pt"))
    assert path == tmp_path / "run" / "tokenizer.model"
    loaded = Tokenizer.load(path)
    assert loaded.encode(["die katze"]) == tokenizer.encode(["die katze"])


def test_bpe_and_bad_input():
    bpe = Tokenizer.train(_pairs(100), TokenizerConfig(vocab_size=60, model_type="bpe"))
    assert bpe.decode(bpe.encode(["das haus"])) == ["das haus"]
    with pytest.raises(ValueError, match="model_type"):
        TokenizerConfig(model_type="word")
    with pytest.raises(UserError, match="empty"):
        Tokenizer.train([])
    with pytest.raises(UserError, match="not found"):
        Tokenizer.load("/nonexistent/tokenizer.model")
