"""Greedy and beam search against hand-built cases and against each other."""

from __future__ import annotations

import math

import pytest
import torch

from mlnotebook.translate.search import (
    beam_search,
    greedy_search,
    length_penalty,
    max_output_length,
    translate_ids,
)
from tests.translate.toy_seq2seq import TableModel, ToySeq2Seq

PAD, UNK, BOS, EOS, A, B, C, D, E = range(9)


def _table(rows: dict[int, dict[int, float]], vocab: int = 9) -> torch.Tensor:
    """A transition table: rows[prev] = {token: probability}; unlisted rows are uniform."""
    table = torch.full((vocab, vocab), 1.0 / vocab)
    for prev, probs in rows.items():
        table[prev] = 0.0
        for token, p in probs.items():
            table[prev, token] = p
    return table


def _random_model(seed: int) -> ToySeq2Seq:
    torch.manual_seed(seed)
    model = ToySeq2Seq(vocab_size=12, hidden_dim=16).eval()
    with torch.no_grad():
        model.output.bias[EOS] += 1.5  # so some rows stop before the length cap
    return model


@torch.no_grad()
def _sequence_log_prob(model, src: torch.Tensor, tokens: list[int]) -> float:
    """log P(tokens + EOS | src) recomputed step by step through decode_step."""
    state = model.encode(src[None])
    prev, total = torch.tensor([BOS]), 0.0
    for token in [*tokens, EOS]:
        log_probs, state, _ = model.decode_step(state, prev)
        total += float(log_probs[0, token])
        prev = torch.tensor([token])
    return total


def test_length_penalty_matches_gnmt_formula():
    assert length_penalty(1.0, 0.0) == 1.0
    assert length_penalty(7.0, 0.6) == pytest.approx((12 / 6) ** 0.6)
    assert length_penalty(torch.tensor(19.0), 1.0).item() == pytest.approx(4.0)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_equals_greedy(seed: int, alpha: float):
    model = _random_model(seed)
    src = torch.randint(4, 12, (6, 7))
    src[2, 4:] = PAD
    src[5, 1:] = PAD
    greedy = greedy_search(model, src, max_len=9)
    beam = beam_search(model, src, beam=1, max_len=9, alpha=alpha)
    for g, b in zip(greedy, beam, strict=True):
        assert g.tokens == b.tokens
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-5)
        assert torch.allclose(g.attention, b.attention, atol=1e-6)


def test_beam_finds_higher_scoring_sequence_than_greedy():
    # From BOS, A looks best (0.6) but every continuation of A is uncertain;
    # B (0.4) is followed by EOS almost surely. P(A C EOS) = 0.6 * 0.34 * 0.9 < P(B EOS).
    table = _table(
        {
            BOS: {A: 0.6, B: 0.4},
            A: {C: 0.34, D: 0.33, E: 0.33},
            B: {EOS: 0.99, C: 0.01},
            C: {EOS: 0.9, D: 0.1},
        }
    )
    model = TableModel(table)
    src = torch.tensor([[A, B, C, D]])
    greedy = greedy_search(model, src, max_len=10)[0]
    beam = beam_search(model, src, beam=2, max_len=10, alpha=0.0)[0]
    assert greedy.tokens == [A, C]
    assert beam.tokens == [B]
    assert beam.log_prob == pytest.approx(math.log(0.4 * 0.99), abs=1e-5)
    assert beam.log_prob > greedy.log_prob
    assert greedy.log_prob == pytest.approx(math.log(0.6 * 0.34 * 0.9), abs=1e-5)


def test_length_penalty_changes_the_winner():
    # [] (EOS at once) has log 0.51; [A] has log(0.49 * 0.99): shorter wins on raw
    # log-probability, the longer one once alpha = 1 divides its score by 7/6.
    table = _table({BOS: {EOS: 0.51, A: 0.49}, A: {EOS: 0.99, B: 0.01}})
    model = TableModel(table)
    src = torch.tensor([[A, B]])
    raw = beam_search(model, src, beam=2, max_len=5, alpha=0.0)[0]
    penalised = beam_search(model, src, beam=2, max_len=5, alpha=1.0)[0]
    assert raw.tokens == []
    assert penalised.tokens == [A]
    assert penalised.score == pytest.approx(math.log(0.49 * 0.99) / (7 / 6), abs=1e-5)


def test_the_bound_rule_keeps_searching_while_a_longer_beam_can_still_win():
    # alpha = 1. After step 2 two translations are finished: [] (log 0.38 = -0.968) and
    # [D] (log(0.32 * 0.99) / lp(2) = -0.985). The alive [A, B] scores log 0.297 / lp(2)
    # = -1.04 now, so the "current" rule stops and returns []. But [A, B, C] will score
    # log(0.3 * 0.99^3) / lp(4) = -0.823, better than both; the "bound" rule sees that it
    # might (-1.214 / lp(6) = -0.66 > -0.985) and searches on.
    table = _table(
        {
            BOS: {EOS: 0.38, D: 0.32, A: 0.30},
            D: {EOS: 0.99, E: 0.01},
            A: {B: 0.99, E: 0.01},
            B: {C: 0.99, E: 0.01},
            C: {EOS: 0.99, E: 0.01},
        }
    )
    model = TableModel(table)
    src = torch.tensor([[A, B, C]])
    current = beam_search(model, src, beam=2, max_len=6, alpha=1.0, stopping="current")[0]
    bound = beam_search(model, src, beam=2, max_len=6, alpha=1.0, stopping="bound")[0]
    assert current.tokens == []
    assert bound.tokens == [A, B, C]
    assert bound.score == pytest.approx(math.log(0.3 * 0.99**3) / 1.5, abs=1e-5)
    assert bound.score > current.score
    # Without a length penalty the two rules are one rule.
    for rule in ("current", "bound"):
        assert beam_search(model, src, beam=2, max_len=6, alpha=0.0, stopping=rule)[0].tokens == []
    with pytest.raises(ValueError, match="stopping"):
        beam_search(model, src, beam=2, max_len=6, stopping="never")


def test_beam_rows_are_independent_of_the_batch():
    # Each sentence is searched the same alone or in a batch with others.
    model = _random_model(3)
    src = torch.randint(4, 12, (4, 6))
    src[1, 3:] = PAD
    together = beam_search(model, src, beam=3, max_len=8, alpha=0.6)
    for row in range(4):
        alone = beam_search(model, src[row : row + 1], beam=3, max_len=8, alpha=0.6)[0]
        assert alone.tokens == together[row].tokens
        assert alone.log_prob == pytest.approx(together[row].log_prob, abs=1e-5)


def test_beam_scores_are_the_models_log_probabilities():
    model = _random_model(4)
    src = torch.randint(4, 12, (3, 5))
    for row, hyp in enumerate(beam_search(model, src, beam=4, max_len=7, alpha=0.0)):
        if len(hyp.tokens) < 7:  # ended with EOS, so the recomputation adds EOS too
            assert hyp.log_prob == pytest.approx(
                _sequence_log_prob(model, src[row], hyp.tokens), abs=1e-4
            )


def test_attention_has_one_row_per_step_and_real_source_columns():
    model = _random_model(6)
    src = torch.randint(4, 12, (2, 6))
    src[0, 4:] = PAD
    for hyp, real_len in zip(beam_search(model, src, beam=3, max_len=8), [4, 6], strict=True):
        steps = len(hyp.tokens) + (1 if len(hyp.tokens) < 8 else 0)
        assert hyp.attention.shape == (steps, real_len)
        assert torch.allclose(hyp.attention.sum(-1), torch.ones(steps), atol=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_length_cap_is_per_sentence_so_batch_mates_do_not_matter(beam: int):
    model = _random_model(7)
    with torch.no_grad():
        model.output.bias[EOS] -= 5.0  # rarely stops: the cap decides the length
    src = torch.randint(4, 12, (3, 8))
    src[0, 2:] = PAD
    src[1, 5:] = PAD
    caps = max_output_length(src, PAD, a=1.0, b=1)
    assert caps.tolist() == [3, 6, 9]
    together = translate_ids(model, src, beam, caps, alpha=0.6)
    for row in range(3):
        alone_src = src[row : row + 1, : int((src[row] != PAD).sum())]
        alone_caps = max_output_length(alone_src, PAD, a=1.0, b=1)
        alone = translate_ids(model, alone_src, beam, alone_caps, alpha=0.6)[0]
        assert alone.tokens == together[row].tokens
        assert len(alone.tokens) <= int(caps[row])


@pytest.mark.parametrize("family", ["seq2seq", "luong", "bahdanau", "transformer"])
def test_beam_of_one_equals_greedy_for_every_model_family(family: str):
    from mlnotebook.translate.model_registry import build_model
    from tests.translate.toy_run import TINY_MODELS, VOCAB

    torch.manual_seed(11)
    params = {k: v for k, v in TINY_MODELS[family].items() if k != "family"}
    model = build_model(family, params, VOCAB).eval()
    src = torch.randint(4, 14, (4, 6))
    src[1, 3:] = PAD
    greedy = greedy_search(model, src, max_len=7)
    beam = beam_search(model, src, beam=1, max_len=7, alpha=0.6)
    wide = beam_search(model, src, beam=3, max_len=7, alpha=0.0)
    for g, b, w in zip(greedy, beam, wide, strict=True):
        assert g.tokens == b.tokens
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-4)
        assert (g.attention is None) == (family == "seq2seq")
        assert math.isfinite(w.log_prob)
