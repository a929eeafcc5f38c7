"""The fast searches (finished sentences leave the batch, attention only when asked)
against the plain ones (every row to the end, attention always), on random models."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from mlnotebook.translate.model_registry import build_model
from mlnotebook.translate.search import Hypothesis, beam_search, greedy_search, max_output_length
from tests.translate.toy_run import TINY_MODELS, VOCAB

PAD, EOS = VOCAB.pad_id, VOCAB.eos_id


@dataclass
class _TimedState:
    inner: object
    target: Tensor  # [rows] the length at which EOS starts to win
    steps: int


class TimedEos(nn.Module):
    """A model whose EOS logit grows once a sentence passes a target length drawn per
    source sentence, so that sentences stop at different steps, like a trained
    model's; it also records the rows decoded at every step."""

    def __init__(self, model: nn.Module, seed: int) -> None:
        super().__init__()
        self.model = model
        self.pad_id, self.bos_id, self.eos_id = model.pad_id, model.bos_id, model.eos_id
        generator = torch.Generator().manual_seed(seed)
        self.target_of_first_word = torch.randint(0, 9, (VOCAB.size,), generator=generator)
        self.rows_per_step: list[int] = []

    def encode(self, src: Tensor, with_attention: bool = True) -> _TimedState:
        # A function of the source alone, so every search sees the same targets.
        target = self.target_of_first_word[src[:, 0]] + (src != self.pad_id).sum(dim=1) % 3
        return _TimedState(self.model.encode(src, with_attention), target, 0)

    def decode_step(self, state: _TimedState, prev_tokens: Tensor):
        log_probs, inner, attention = self.model.decode_step(state.inner, prev_tokens)
        self.rows_per_step.append(prev_tokens.size(0))
        boosted = log_probs.clone()
        boosted[:, self.eos_id] += 1.5 * (state.steps - state.target.float())
        new_state = _TimedState(inner, state.target, state.steps + 1)
        return boosted.log_softmax(dim=-1), new_state, attention

    def reorder_state(self, state: _TimedState, index: Tensor) -> _TimedState:
        inner = self.model.reorder_state(state.inner, index)
        return _TimedState(inner, state.target[index], state.steps)


def _model(family: str, seed: int) -> TimedEos:
    torch.manual_seed(seed)
    params = {k: v for k, v in TINY_MODELS[family].items() if k != "family"}
    if family == "transformer":
        params["num_decoder_layers"] = 2
    return TimedEos(build_model(family, params, VOCAB).eval(), seed)


def _sources(seed: int, batch: int = 7, width: int = 8) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB.size, (batch, width), generator=generator)
    lengths = torch.randint(1, width + 1, (batch,), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        src[row, length:] = PAD
    return src


def _assert_same(fast: list[Hypothesis], plain: list[Hypothesis], with_attention: bool) -> None:
    assert len(fast) == len(plain)
    for f, p in zip(fast, plain, strict=True):
        assert f.tokens == p.tokens
        assert f.log_prob == pytest.approx(p.log_prob, abs=1e-4)
        assert f.score == pytest.approx(p.score, abs=1e-4)
        if not with_attention or p.attention is None:
            assert f.attention is None
        else:
            torch.testing.assert_close(f.attention, p.attention, atol=1e-5, rtol=1e-5)


FAMILIES = ["transformer", "luong", "seq2seq"]


@pytest.mark.parametrize("with_attention", [True, False])
@pytest.mark.parametrize("beam", [1, 2, 5])
@pytest.mark.parametrize("family", FAMILIES)
def test_beam_search_dropping_finished_sentences_changes_nothing(family, beam, with_attention):
    fewest_rows = []
    for seed in range(3):
        model = _model(family, seed)
        src = _sources(seed)
        caps = max_output_length(src, PAD, a=1.5, b=2)  # per sentence: [B]
        for alpha in (0.0, 0.6):
            plain = beam_search(model, src, beam, caps, alpha, drop_finished=False)
            model.rows_per_step.clear()
            fast = beam_search(model, src, beam, caps, alpha, with_attention)
            _assert_same(fast, plain, with_attention)
            fewest_rows.append(min(model.rows_per_step) / (src.size(0) * beam))
    # Sentences did leave the batch part-way (the fast path was exercised).
    assert min(fewest_rows) < 1


@pytest.mark.parametrize("with_attention", [True, False])
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_search_dropping_finished_rows_changes_nothing(family, with_attention):
    fewest_rows = []
    for seed in range(4):
        model = _model(family, seed)
        src = _sources(seed + 10)
        for caps in (max_output_length(src, PAD, a=1.0, b=1), 6):
            plain = greedy_search(model, src, caps, drop_finished=False)
            model.rows_per_step.clear()
            fast = greedy_search(model, src, caps, with_attention)
            _assert_same(fast, plain, with_attention)
            fewest_rows.append(min(model.rows_per_step) / src.size(0))
    assert min(fewest_rows) < 1


def test_beam_one_still_equals_greedy_when_rows_leave():
    model = _model("transformer", 5)
    src = _sources(5)
    greedy = greedy_search(model, src, 9)
    beam = beam_search(model, src, 1, 9, alpha=0.6)
    for g, b in zip(greedy, beam, strict=True):
        assert g.tokens == b.tokens
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-4)
        torch.testing.assert_close(g.attention, b.attention, atol=1e-5, rtol=1e-5)


def test_transformer_state_keeps_one_memory_copy_per_sentence():
    # Beams of one sentence share its memory and cross-attention keys and values;
    # reordering beams within sentences copies none of them.
    model = _model("transformer", 0).model
    src = _sources(0, batch=3)
    state = model.encode(src)
    state = model.reorder_state(state, torch.arange(3).repeat_interleave(4))
    assert state.group == 4 and state.memory.shape[0] == 3
    within = torch.tensor([1, 1, 0, 3, 7, 6, 5, 4, 8, 8, 8, 8])
    reordered = model.reorder_state(state, within)
    assert reordered.memory is state.memory
    assert reordered.caches[0].cross_key is state.caches[0].cross_key
    # Dropping sentence 1 keeps sources 0 and 2; an irregular pick gives one per row.
    dropped = model.reorder_state(state, torch.tensor([0, 1, 2, 3, 8, 9, 10, 11]))
    assert dropped.group == 4 and dropped.memory.shape[0] == 2
    irregular = model.reorder_state(state, torch.tensor([4, 0, 1]))
    assert irregular.group == 1
    torch.testing.assert_close(irregular.memory, state.memory[torch.tensor([1, 0, 0])])
