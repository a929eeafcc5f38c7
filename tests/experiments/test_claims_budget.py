"""The budget-schedule experiment: its figures' layout, its intervals, and its seed stack."""

from __future__ import annotations

import math

import pytest
import torch

from mlnotebook.experiments import claims_budget
from mlnotebook.experiments.claims_budget import (
    DECAYING,
    SCHEDULES,
    BudgetConfig,
    build_schedule,
    load_split,
    one_thread,
    paired_interval,
    train_stack,
)
from mlnotebook.optim.sgd import SGD


@pytest.fixture(scope="module")
def tiny_figures() -> dict:
    """The whole experiment on 4 and 16 steps, two rates and two seeds (about a second)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(claims_budget, "SHORT_STEPS", 4)
        patch.setattr(claims_budget, "QUICK", BudgetConfig((0.03, 0.1), seeds=(0, 1)))
        return claims_budget.claim_budget_schedules(quick=True)


def test_figures_have_the_documented_layout(tiny_figures: dict) -> None:
    budgets = tiny_figures["budgets"]
    assert list(budgets) == ["short", "long"]
    assert [budgets[b]["steps"] for b in budgets] == [4, 16]
    for budget in budgets.values():
        assert set(budget["schedules"]) == set(SCHEDULES)
        for schedule in budget["schedules"].values():
            assert {"loss", "accuracy", "best_lr", "seeds"} <= set(schedule)
            assert schedule["best_lr"] in (0.03, 0.1)
            assert [row["seed"] for row in schedule["seeds"]] == [0, 1]
            assert schedule["loss"] == pytest.approx(
                sum(row["loss"] for row in schedule["seeds"]) / 2
            )
            assert 0 <= schedule["accuracy"] <= 1
        assert set(budget["gain_vs_constant"]) == set(SCHEDULES) - {"constant"}
        assert set(budget["gain_of_linear_over"]) == {"cosine", "rex"}
        assert budget["lowest_loss"] in SCHEDULES


def test_intervals_contain_the_mean_difference(tiny_figures: dict) -> None:
    for budget in tiny_figures["budgets"].values():
        constant = budget["schedules"]["constant"]
        for name, gain in budget["gain_vs_constant"].items():
            assert gain["low"] <= gain["mean"] <= gain["high"], name
            # mean gain = constant's mean loss minus the schedule's (paired by seed)
            assert gain["mean"] == pytest.approx(
                constant["loss"] - budget["schedules"][name]["loss"]
            )
            assert gain["relative"] == pytest.approx(gain["mean"] / constant["loss"])
        for gain in budget["gain_of_linear_over"].values():
            assert gain["low"] <= gain["mean"] <= gain["high"]


def test_paired_interval_is_the_t_interval() -> None:
    # differences 1, 2, 3: mean 2, standard error 1/sqrt(3), t_{0.975, 2} = 4.3027
    interval = paired_interval([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)
    assert interval["mean"] == pytest.approx(2.0)
    assert interval["low"] == pytest.approx(2.0 - half, rel=1e-5)
    assert interval["high"] == pytest.approx(2.0 + half, rel=1e-5)


def test_a_seed_trains_the_same_alone_or_in_a_stack() -> None:
    split = load_split()
    with one_thread():  # as the experiment runs; many threads on tiny matrices only wait
        stacked = train_stack("rex", 0.1, steps=6, seeds=(0, 1), split=split)
        alone = train_stack("rex", 0.1, steps=6, seeds=(1,), split=split)
    for together, single in zip(stacked, alone, strict=True):
        torch.testing.assert_close(together[1], single[0])


def _rates(name: str, steps: int, warmup: int) -> list[float]:
    optimiser = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = build_schedule(name, optimiser, steps, warmup)
    rates = []
    for _ in range(steps):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    return rates


def test_schedules_share_the_warm_up_and_the_peak() -> None:
    constant = _rates("constant", steps=40, warmup=10)
    inverse_sqrt = _rates("inverse_sqrt", steps=40, warmup=10)
    assert constant[:10] == pytest.approx([t / 10 for t in range(1, 11)])
    assert constant[10:] == pytest.approx([1.0] * 30)
    assert inverse_sqrt[:10] == pytest.approx(constant[:10])
    assert inverse_sqrt[39] == pytest.approx(0.5)  # sqrt(w / t) at t = 4w
    for name in DECAYING:
        rates = _rates(name, steps=40, warmup=10)
        assert max(rates) <= 1.0
        assert rates[-1] < 0.1, name  # the last step, p = 39/40, is close to zero
