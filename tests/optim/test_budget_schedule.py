"""The budget schedule: warm-up, then each decay shape down to zero at the budget's end."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from torch import nn

from mlnotebook.optim.budget_schedule import BudgetDecay, decay_factor


def _rates(steps: int, **kwargs) -> list[float]:
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.5)
    scheduler = BudgetDecay(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates.append(optimizer.param_groups[0]["lr"])  # after the last step
    return rates


@pytest.mark.parametrize("shape", ["linear", "cosine", "rex"])
def test_each_shape_starts_at_the_peak_and_ends_at_zero(shape):
    rates = _rates(50, total_steps=50, shape=shape)
    assert rates[0] == pytest.approx(0.5)
    assert rates[-1] == 0.0
    assert all(a >= b for a, b in itertools.pairwise(rates))  # never rises
    assert all(r > 0 for r in rates[:-1])  # every step of the budget still learns


def test_the_shapes_follow_their_formulas():
    for p in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
        assert decay_factor(p, "linear") == pytest.approx(1 - p)
        assert decay_factor(p, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * p)))
        assert decay_factor(p, "rex") == pytest.approx((1 - p) / (0.5 + 0.5 * (1 - p)))
    # REX stays above linear, and cosine crosses linear at the middle.
    assert decay_factor(0.8, "rex") > decay_factor(0.8, "linear") > decay_factor(0.8, "cosine")
    assert decay_factor(0.2, "cosine") > decay_factor(0.2, "linear")


def test_warmup_rises_linearly_then_decays():
    rates = _rates(20, total_steps=20, warmup_steps=4)
    # step t runs at 0.5 * min(1, t/4) * (1 - (t-1)/20)
    for t in range(1, 21):
        expected = 0.5 * min(1.0, t / 4) * (1 - (t - 1) / 20)
        assert rates[t - 1] == pytest.approx(expected, rel=1e-12)


def test_a_given_progress_overrides_the_step_count():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = BudgetDecay(optimizer, shape="linear")
    optimizer.step()
    scheduler.step(progress=0.75)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    optimizer.step()
    scheduler.step(progress=1.0)
    assert optimizer.param_groups[0]["lr"] == 0.0


def test_without_total_steps_it_needs_a_progress():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = BudgetDecay(optimizer)
    optimizer.step()
    with pytest.raises(ValueError, match="total_steps"):
        scheduler.step()


def test_bad_arguments_are_refused():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="shape"):
        BudgetDecay(optimizer, total_steps=5, shape="step")
    with pytest.raises(ValueError, match="total_steps"):
        BudgetDecay(optimizer, total_steps=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        BudgetDecay(optimizer, total_steps=5, warmup_steps=-1)


def test_state_dict_resumes_exactly_and_loads_weights_only():
    def run(steps, state=None):
        param = nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=1.0)
        scheduler = BudgetDecay(optimizer, total_steps=30, warmup_steps=5, shape="rex")
        if state is not None:
            scheduler.load_state_dict(state)
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
        return scheduler, optimizer.param_groups[0]["lr"]

    _, straight = run(20)
    half, _ = run(12)
    buffer = io.BytesIO()
    torch.save(half.state_dict(), buffer)
    buffer.seek(0)
    _, resumed = run(8, torch.load(buffer, weights_only=True))
    assert resumed == straight
