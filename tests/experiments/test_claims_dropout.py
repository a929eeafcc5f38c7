"""The dropout claim's pieces: subsets, paired gains, the decisions and the premises."""

from __future__ import annotations

import math

import pytest
import torch

from mlnotebook.experiments import claims_dropout as claim
from mlnotebook.experiments.bn_sweep import load_digits_split


def test_a_subset_is_the_same_for_every_model_of_a_seed_and_differs_between_seeds():
    split = load_digits_split()
    x1, y1 = claim.subset(split, 200, seed=1)
    x1_again, _ = claim.subset(split, 200, seed=1)
    x2, _ = claim.subset(split, 200, seed=2)
    assert x1.shape == (200, 64) and y1.shape == (200,)
    assert torch.equal(x1, x1_again) and not torch.equal(x1, x2)
    full_x, _ = claim.subset(split, 10**9, seed=1)
    assert len(full_x) == len(split.y_train)


def _runs(gains_plain: list[float], gains_bn: list[float]) -> dict:
    """Fake runs whose test accuracy with dropout exceeds without by the given gains."""
    runs = {}
    for seed, (gp, gb) in enumerate(zip(gains_plain, gains_bn, strict=True)):
        for model, gain in (("plain", gp), ("batch_norm", gb)):
            runs[(model, 0.0, seed)] = claim.Run((1.0, 1.0), (0.9, 0.9))
            runs[(model, claim.DROPOUT, seed)] = claim.Run((0.99, 0.99), (0.9 + gain, 0.9))
    return runs


def test_gains_and_reduction_are_paired_by_seed_with_intervals():
    runs = _runs([0.02, 0.03, 0.04], [0.0, 0.01, 0.02])
    figures = claim.measure(runs, (0, 1, 2), at=0)
    assert figures["dropout_gain"]["plain"]["mean"] == pytest.approx(0.03)
    # Every seed reduces the gain by exactly 0.02: a zero-width interval at 0.02.
    reduction = figures["reduction"]
    assert reduction["mean"] == pytest.approx(0.02)
    assert reduction["low"] == pytest.approx(0.02) and reduction["high"] == pytest.approx(0.02)
    assert claim.decisions(figures) == {
        "dropout_helps_plain": True,
        "reduction_positive": True,
        "reduction_negative": False,
    }
    # At the doubled horizon (reading 1) dropout made no difference in these fake runs.
    doubled = claim.measure(runs, (0, 1, 2), at=1)
    assert doubled["dropout_gain"]["plain"]["mean"] == pytest.approx(0.0)
    assert not claim.decisions(doubled)["dropout_helps_plain"]


def test_one_seed_decides_nothing():
    figures = claim.measure(_runs([0.05], [0.0]), (0,), at=0)
    assert math.isnan(figures["reduction"]["low"])
    assert claim.decisions(figures) == {
        "dropout_helps_plain": False,
        "reduction_positive": False,
        "reduction_negative": False,
    }
