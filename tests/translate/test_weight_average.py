"""The moving average of the weights and the average of checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlnotebook.translate.weight_average import ExponentialAverage, average_state_dicts


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2))


def _perturb(model: nn.Module, scale: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)


def test_decay_zero_equals_the_raw_weights_exactly():
    model = _model()
    ema = ExponentialAverage(model, decay=0.0)
    for _ in range(5):
        _perturb(model, 0.3)
        ema.update(model)
        for average, param in zip(ema.shadow, model.parameters(), strict=True):
            assert torch.equal(average, param)


def test_the_average_follows_its_recurrence():
    model = _model()
    ema = ExponentialAverage(model, decay=0.9)
    expected = [p.detach().clone().double() for p in model.parameters()]
    for t in range(30):
        _perturb(model, 0.1)
        d = min(0.9, (1 + t) / (10 + t))  # the ramp, then the decay itself
        expected = [
            d * e + (1 - d) * p.detach().double()
            for e, p in zip(expected, model.parameters(), strict=True)
        ]
        ema.update(model)
    for average, want in zip(ema.shadow, expected, strict=True):
        torch.testing.assert_close(average.double(), want, rtol=1e-5, atol=1e-6)
    assert ema.current_decay() == pytest.approx(min(0.9, 31 / 40))


def test_swapped_in_lends_the_average_and_gives_the_weights_back():
    model = _model()
    ema = ExponentialAverage(model, decay=0.5)
    _perturb(model, 1.0)
    ema.update(model)
    own = [p.detach().clone() for p in model.parameters()]
    with ema.swapped_in(model):
        for param, average in zip(model.parameters(), ema.shadow, strict=True):
            assert torch.equal(param, average)
    for param, saved in zip(model.parameters(), own, strict=True):
        assert torch.equal(param, saved)


def test_state_dict_round_trip_continues_the_same_average():
    model = _model()
    ema = ExponentialAverage(model, decay=0.8)
    for _ in range(3):
        _perturb(model, 0.2)
        ema.update(model)
    saved = ema.state_dict(model)
    assert set(saved) == set(model.state_dict())
    other = ExponentialAverage(_model(seed=5), decay=0.8)
    other.load_state_dict(model, saved, ema.updates)
    _perturb(model, 0.2)
    ema.update(model)
    other.update(model)
    for a, b in zip(ema.shadow, other.shadow, strict=True):
        assert torch.equal(a, b)


def test_tied_weights_are_averaged_once():
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    model[1].weight = model[0].weight
    ema = ExponentialAverage(model, decay=0.5)
    assert len(ema.shadow) == 1
    state = ema.state_dict(model)
    assert torch.equal(state["0.weight"], state["1.weight"])


def test_decay_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="decay"):
        ExponentialAverage(_model(), decay=1.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_average_of_identical_checkpoints_is_the_checkpoint(dtype):
    state = {k: v.to(dtype) for k, v in _model().state_dict().items()}
    state["steps"] = torch.tensor(7)
    averaged = average_state_dicts([state, state, state])
    for key, value in state.items():
        assert torch.equal(averaged[key], value) and averaged[key].dtype == value.dtype


def test_the_average_is_the_element_wise_mean():
    states = [_model(seed).state_dict() for seed in range(4)]
    averaged = average_state_dicts(states)
    for key in states[0]:
        want = torch.stack([s[key].double() for s in states]).mean(0)
        torch.testing.assert_close(averaged[key].double(), want, rtol=0, atol=1e-7)


def test_mismatched_states_are_refused():
    a = _model().state_dict()
    b = dict(a)
    b.pop(next(iter(b)))
    with pytest.raises(ValueError, match="keys"):
        average_state_dicts([a, b])
    with pytest.raises(ValueError, match="nothing"):
        average_state_dicts([])
