"""The recurrent translation models: the seq2seq interface, padding, backends, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.nn.rnn_seq2seq import (
    BahdanauSeq2Seq,
    LuongSeq2Seq,
    RNNSeq2SeqBase,
    Seq2Seq,
)

PAD, BOS, EOS, VOCAB = 0, 1, 2, 12
SMALL = {"embedding_dim": 8, "hidden_size": 12, "num_layers": 2, "dropout": 0.1}

MODELS = {
    "seq2seq": (Seq2Seq, {}),
    "luong_dot": (LuongSeq2Seq, {"score": "dot"}),
    "luong_general": (LuongSeq2Seq, {"score": "general"}),
    "luong_concat": (LuongSeq2Seq, {"score": "concat"}),
    "luong_no_feeding": (LuongSeq2Seq, {"score": "general", "input_feeding": False}),
    "bahdanau": (BahdanauSeq2Seq, {"attention_size": 10}),
}


def _model(kind: str, seed: int = 0, **overrides) -> RNNSeq2SeqBase:
    torch.manual_seed(seed)
    cls, extra = MODELS[kind]
    kwargs = {"pad_id": PAD, "bos_id": BOS, "eos_id": EOS, **SMALL, **extra, **overrides}
    return cls(VOCAB, VOCAB, **kwargs).eval()


def _batch(generator: torch.Generator, rows: int, low: int = 2, high: int = 6):
    """Reverse task: src = tokens EOS; tgt_in = BOS reversed; tgt_out = reversed EOS."""
    lengths = torch.randint(low, high + 1, (rows,), generator=generator)
    width = int(lengths.max()) + 1
    src, tgt_in, tgt_out = (torch.full((rows, width), PAD) for _ in range(3))
    for row, length in enumerate(lengths.tolist()):
        tokens = torch.randint(3, VOCAB, (length,), generator=generator)
        src[row, :length], src[row, length] = tokens, EOS
        tgt_in[row, 0], tgt_in[row, 1 : length + 1] = BOS, tokens.flip(0)
        tgt_out[row, :length], tgt_out[row, length] = tokens.flip(0), EOS
    return src, tgt_in, tgt_out


def _fixed_batch(rows: int = 4):
    return _batch(torch.Generator().manual_seed(1), rows)


@pytest.mark.parametrize("kind", list(MODELS))
def test_shapes(kind):
    model = _model(kind)
    src, tgt_in, _ = _fixed_batch()
    assert model(src, tgt_in).shape == (*tgt_in.shape, VOCAB)
    log_probs, _, attention = model.decode_step(model.encode(src), tgt_in[:, 0])
    assert log_probs.shape == (src.shape[0], VOCAB)
    if kind == "seq2seq":
        assert attention is None
    else:
        assert attention.shape == src.shape
        torch.testing.assert_close(attention.sum(-1), torch.ones(src.shape[0]))
        assert torch.all(attention[src == PAD] == 0)


def _step_by_step(model, src, tgt_in):
    """Feed tgt_in to decode_step one token at a time: log-probs [B, T, V]."""
    state = model.encode(src)
    outputs = []
    for tokens in tgt_in.unbind(1):
        log_probs, state, _ = model.decode_step(state, tokens)
        outputs.append(log_probs)
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("use_torch_lstm", [False, True], ids=["ours", "torch"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_teacher_forcing_equals_step_by_step_decoding(kind, use_torch_lstm):
    """What search scores (decode_step) is what training optimised (forward)."""
    model = _model(kind, use_torch_lstm=use_torch_lstm)
    src, tgt_in, _ = _fixed_batch()
    with torch.no_grad():
        expected = F.log_softmax(model(src, tgt_in), dim=-1)
        stepped = _step_by_step(model, src, tgt_in)
    torch.testing.assert_close(stepped, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", list(MODELS))
def test_reorder_state_selects_and_repeats_rows(kind):
    model = _model(kind)
    src, tgt_in, _ = _fixed_batch()
    index = torch.tensor([2, 0, 0, 3, 1])
    with torch.no_grad():
        state = model.encode(src)
        _, state, _ = model.decode_step(state, tgt_in[:, 0])  # move past the initial state
        reordered = model.reorder_state(state, index)
        log_probs, _, attention = model.decode_step(state, tgt_in[:, 1])
        log_probs_r, _, attention_r = model.decode_step(reordered, tgt_in[index, 1])
    torch.testing.assert_close(log_probs_r, log_probs[index], atol=1e-6, rtol=0)
    if attention is not None:
        torch.testing.assert_close(attention_r, attention[index], atol=1e-6, rtol=0)


@pytest.mark.parametrize("use_torch_lstm", [False, True], ids=["ours", "torch"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_source_padding_does_not_change_a_sentence(kind, use_torch_lstm):
    """A short sentence alone, or padded inside a batch with a longer one, translates the same."""
    model = _model(kind, use_torch_lstm=use_torch_lstm)
    short = torch.tensor([[5, 7, EOS]])
    long = torch.tensor([[3, 4, 8, 9, 6, 10, EOS]])
    batch = torch.full((2, 9), PAD)  # two extra padding columns beyond the longest row
    batch[0, :3], batch[1, :7] = short[0], long[0]
    tgt_in = torch.tensor([[BOS, 7, 5, 4]])
    with torch.no_grad():
        alone = model(short, tgt_in)
        together = model(batch, tgt_in.expand(2, -1))
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["seq2seq", "luong_concat", "bahdanau"])
def test_torch_lstm_backend_computes_the_same_model(kind):
    """Same parameter names, so one state dict runs on both backends with equal outputs."""
    ours = _model(kind)
    theirs = _model(kind, seed=1, use_torch_lstm=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    src, tgt_in, _ = _fixed_batch()
    with torch.no_grad():
        torch.testing.assert_close(ours(src, tgt_in), theirs(src, tgt_in), atol=1e-5, rtol=0)


def test_tied_and_shared_embeddings():
    model = _model("luong_general", share_embeddings=True, tie_output=True)
    assert model.src_embedding is model.tgt_embedding
    assert model.output_layer.projection.weight is model.tgt_embedding.weight
    # embedding_dim 8 != hidden_size 12: a bottleneck maps hidden into embedding space
    assert model.output_layer.bottleneck.weight.shape == (8, 12)
    same_size = _model("seq2seq", embedding_dim=12, tie_output=True)
    assert isinstance(same_size.output_layer.bottleneck, torch.nn.Identity)
    src, tgt_in, _ = _fixed_batch()
    assert model(src, tgt_in).shape == (*tgt_in.shape, VOCAB)


def test_dropout_is_active_only_in_training():
    model = _model("bahdanau", dropout=0.5)
    src, tgt_in, _ = _fixed_batch()
    assert torch.equal(model(src, tgt_in), model(src, tgt_in))
    model.train()
    assert not torch.equal(model(src, tgt_in), model(src, tgt_in))


def test_registry_builds_each_family_with_the_tokenizer_ids():
    from mlnotebook.translate.model_registry import VocabInfo, build_model

    vocab = VocabInfo(size=VOCAB, pad_id=3, unk_id=0, bos_id=1, eos_id=2)
    for family in ("seq2seq", "luong", "bahdanau"):
        model = build_model(family, {"hidden_size": 8, "embedding_dim": 4}, vocab)
        assert (model.pad_id, model.bos_id, model.eos_id) == (3, 1, 2)
        assert model.tgt_embedding.padding_idx == 3


def test_constructor_and_input_errors():
    with pytest.raises(ValueError, match="odd hidden_size=11"):
        Seq2Seq(VOCAB, VOCAB, hidden_size=11)
    with pytest.raises(ValueError, match="share_embeddings needs one joint vocabulary"):
        Seq2Seq(VOCAB, VOCAB + 1, share_embeddings=True)
    with pytest.raises(ValueError, match="score must be one of"):
        LuongSeq2Seq(VOCAB, VOCAB, score="cosine")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        BahdanauSeq2Seq(VOCAB, VOCAB, hidden_size=0)
    model = _model("seq2seq")
    with pytest.raises(ValueError, match="row 1 has pad_id before a real token"):
        model.encode(torch.tensor([[4, 5, EOS], [PAD, 5, EOS]]))


def _train_reverse(model, steps: int, seed: int = 0) -> float:
    """Train on fresh reverse-task batches; return sentence accuracy on unseen ones."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        src, tgt_in, tgt_out = _batch(generator, 32)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    src, tgt_in, tgt_out = _batch(generator, 200)
    with torch.no_grad():
        predicted = model(src, tgt_in).argmax(-1)
    correct = (predicted == tgt_out) | (tgt_out == PAD)
    return correct.all(dim=1).float().mean().item()


@pytest.mark.parametrize(
    ("kind", "steps", "accuracy"),
    [("seq2seq", 300, 0.7), ("luong_general", 200, 0.9)],
)
def test_learns_to_reverse_sentences(kind, steps, accuracy):
    """Seeded, CPU, a few seconds: the whole pipeline (encoder, attention, decoder) learns."""
    model = _model(kind, num_layers=1, embedding_dim=16, hidden_size=32, dropout=0.0)
    assert _train_reverse(model, steps) >= accuracy


def test_bahdanau_learns_and_decodes_with_greedy_search():
    """Learning, then end to end through the shared search code (encode, decode_step)."""
    from mlnotebook.translate.search import greedy_search

    model = _model("bahdanau", num_layers=1, embedding_dim=16, hidden_size=32, dropout=0.0)
    assert _train_reverse(model, 300) >= 0.9
    src, _, tgt_out = _batch(torch.Generator().manual_seed(7), 20)
    hypotheses = greedy_search(model, src, max_len=10)
    expected = [row[(row != PAD) & (row != EOS)].tolist() for row in tgt_out]
    right = sum(h.tokens == e for h, e in zip(hypotheses, expected, strict=True))
    assert right >= 18
