"""CTranslate2 export: the exported model scores and translates sentences like ours does."""

import ctranslate2
import pytest
import torch

from mlnotebook.errors import UserError
from mlnotebook.nn.transformer import TransformerSeq2Seq
from mlnotebook.translate.export_ct2 import export_ct2
from mlnotebook.translate.search import beam_search, greedy_search

PAD, UNK, BOS, EOS = 0, 1, 2, 3
VOCAB = ["<pad>", "<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(16)]


def _model(norm_first: bool, activation: str = "relu") -> TransformerSeq2Seq:
    torch.manual_seed(0)
    model = TransformerSeq2Seq(
        len(VOCAB), len(VOCAB), PAD, BOS, EOS, d_model=16, num_heads=4, num_encoder_layers=2,
        num_decoder_layers=2, d_ff=32, dropout=0.0, activation=activation,
        norm_first=norm_first, share_embeddings=True, max_len=64,
    )  # fmt: skip
    with torch.no_grad():  # non-trivial biases and norms, so a misplaced one would show
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def _our_log_probs(model, source: list[int], target: list[int]) -> torch.Tensor:
    src = torch.tensor([source])
    tgt_in = torch.tensor([[BOS, *target]])
    tgt_out = torch.tensor([[*target, EOS]])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(src, tgt_in), dim=-1)
    return log_probs[0].gather(1, tgt_out[0, :, None]).squeeze(1)


@pytest.mark.parametrize(("norm_first", "activation"), [(False, "relu"), (True, "gelu")])
def test_exported_model_gives_the_same_token_log_probs(tmp_path, norm_first, activation):
    model = _model(norm_first, activation)
    output = export_ct2(model, tmp_path / "ct2", VOCAB, unk_id=UNK)
    translator = ctranslate2.Translator(str(output), device="cpu")
    generator = torch.Generator().manual_seed(1)
    sources = [torch.randint(4, len(VOCAB), (n,), generator=generator).tolist() for n in (5, 3)]
    targets = [torch.randint(4, len(VOCAB), (n,), generator=generator).tolist() for n in (4, 6)]
    results = translator.score_batch(
        [[VOCAB[i] for i in s] for s in sources], [[VOCAB[i] for i in t] for t in targets]
    )
    for source, target, result in zip(sources, targets, results, strict=True):
        assert result.tokens == [VOCAB[i] for i in target] + ["</s>"]
        expected = _our_log_probs(model, source, target)
        torch.testing.assert_close(torch.tensor(result.log_probs), expected, atol=1e-4, rtol=1e-4)


def test_greedy_translation_matches_our_cached_decoding(tmp_path):
    model = _model(norm_first=True)
    output = export_ct2(model, tmp_path / "ct2", VOCAB, unk_id=UNK)
    translator = ctranslate2.Translator(str(output), device="cpu")
    source = [5, 9, 12, 7]
    result = translator.translate_batch([[VOCAB[i] for i in source]], beam_size=1,
                                        max_decoding_length=6)  # fmt: skip
    with torch.no_grad():
        state, token, ours = model.encode(torch.tensor([source])), torch.tensor([BOS]), []
        for _ in range(6):
            log_probs, state, _ = model.decode_step(state, token)
            token = log_probs.argmax(-1)
            if token.item() == EOS:
                break
            ours.append(VOCAB[token.item()])
    assert result[0].hypotheses[0] == ours


def test_bad_vocabulary_and_existing_directory_are_refused(tmp_path):
    model = _model(norm_first=False)
    with pytest.raises(UserError, match="source vocabulary has 19 tokens, model has 20"):
        export_ct2(model, tmp_path / "a", VOCAB[:-1])
    with pytest.raises(UserError, match="duplicate"):
        export_ct2(model, tmp_path / "a", [*VOCAB[:-1], "w0"])
    (tmp_path / "b").mkdir()
    with pytest.raises(UserError, match="exists"):
        export_ct2(model, tmp_path / "b", VOCAB)
    export_ct2(model, tmp_path / "b", VOCAB, force=True)
    assert (tmp_path / "b" / "model.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no staging left behind


# --- many sentences: a briefly trained model, so outputs differ and stop at varied lengths ---

SENTENCES, MAX_SOURCE, CAP = 300, 20, 10


def _padded(rows: list[list[int]]) -> torch.Tensor:
    batch = torch.full((len(rows), max(len(r) for r in rows)), PAD)
    for index, row in enumerate(rows):
        batch[index, : len(row)] = torch.tensor(row)
    return batch


def _random_sources(count: int, max_len: int, generator: torch.Generator) -> list[list[int]]:
    lengths = torch.randint(1, max_len + 1, (count,), generator=generator).tolist()
    return [torch.randint(4, len(VOCAB), (n,), generator=generator).tolist() for n in lengths]


@pytest.fixture(scope="module")
def reverser() -> TransformerSeq2Seq:
    """80 Adam steps on sequence reversal: far from perfect, but source-dependent.

    A random-weight Transformer says nearly the same thing whatever the source,
    so matching it would prove little.
    """
    torch.manual_seed(0)
    model = TransformerSeq2Seq(
        len(VOCAB), len(VOCAB), PAD, BOS, EOS, d_model=32, num_heads=4, num_encoder_layers=2,
        num_decoder_layers=2, d_ff=64, dropout=0.0, norm_first=True, share_embeddings=True,
        max_len=64,
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(80):
        sources = _random_sources(32, 12, generator)
        targets = [s[::-1] for s in sources]
        tgt_in = _padded([[BOS, *t] for t in targets])
        loss = model.loss(_padded(sources), tgt_in, _padded([[*t, EOS] for t in targets]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def many_sources() -> list[list[int]]:
    return _random_sources(SENTENCES, MAX_SOURCE, torch.Generator().manual_seed(1))


def _ct2_outputs(model, sources, tmp_path, **options) -> list[list[str]]:
    output = export_ct2(model, tmp_path / "ct2", VOCAB, unk_id=UNK)
    translator = ctranslate2.Translator(str(output), device="cpu", intra_threads=1)
    results = translator.translate_batch(
        [[VOCAB[i] for i in s] for s in sources], max_decoding_length=CAP,
        min_decoding_length=0, **options,
    )  # fmt: skip
    return [r.hypotheses[0] for r in results]


def test_greedy_translations_match_on_300_sentences(reverser, many_sources, tmp_path):
    ours = [
        [VOCAB[i] for i in h.tokens] for h in greedy_search(reverser, _padded(many_sources), CAP)
    ]
    theirs = _ct2_outputs(reverser, many_sources, tmp_path, beam_size=1)
    assert theirs == ours
    # A meaningful comparison: varied outputs, some ended by EOS, some cut at the cap.
    assert len({tuple(o) for o in ours}) > SENTENCES // 2
    assert sum(len(o) < CAP for o in ours) >= 30
    assert sum(len(o) == CAP for o in ours) >= 30


def test_beam_without_length_penalty_matches_on_300_sentences(reverser, many_sources, tmp_path):
    """Beam 5, raw log-probabilities. CTranslate2's length penalty divides by |Y|^alpha,
    ours by GNMT's ((5 + |Y|) / 6)^alpha, so with alpha > 0 they differ by definition."""
    hypotheses = beam_search(reverser, _padded(many_sources), 5, CAP, alpha=0.0)
    ours = [[VOCAB[i] for i in h.tokens] for h in hypotheses]
    theirs = _ct2_outputs(reverser, many_sources, tmp_path, beam_size=5, length_penalty=0.0)
    assert theirs == ours
    greedy = greedy_search(reverser, _padded(many_sources), CAP)
    assert sum(h.tokens != g.tokens for h, g in zip(hypotheses, greedy, strict=True)) >= 10
