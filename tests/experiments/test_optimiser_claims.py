"""The notebook's optimiser claims, pinned to what the experiments measured (quick mode).

Where the measurement supports a claim the test asserts the claim. Where it contradicts
it, or supports it only on some surfaces, the test asserts the measured verdict and the
comment says so. None of these experiments was adjusted to make a claim pass.
"""

from __future__ import annotations

import pytest
import torch

from mlnotebook.experiments.optimiser_claims import (
    LATE_SCALE,
    claim_adam_vs_sgd,
    claim_adaptive_step_sizes,
    record_effective_lr,
)
from mlnotebook.surfaces import SURFACES


@pytest.fixture(scope="module")
def adaptive() -> dict:
    return claim_adaptive_step_sizes(quick=True)


@pytest.fixture(scope="module")
def adam() -> dict:
    return claim_adam_vs_sgd(quick=True)


# ---- (b) Adagrad's step size only shrinks; RMSprop's and Adadelta's recover ---------------


@pytest.mark.parametrize("optimiser", ["Adagrad", "RMSprop", "Adadelta"])
def test_state_readout_is_the_step_size_actually_applied(optimiser: str) -> None:
    record = record_effective_lr(optimiser, steps=40)
    torch.testing.assert_close(record["from_state"], record["observed"])


def test_adagrad_step_size_never_rises(adaptive: dict) -> None:
    # Supported (and forced by the algebra: its sum of squared gradients never decreases).
    adagrad = adaptive["Adagrad"]
    assert not adagrad["ever_rises"]
    # After gradients drop 100x it cannot recover: the step size is still where it was.
    assert adagrad["end_over_before_drop"] == pytest.approx([1.0, 1.0], abs=1e-3)


def test_rmsprop_step_size_rises_when_gradients_shrink(adaptive: dict) -> None:
    # Supported: flat or falling while gradients are steady, rising after the drop
    # (measured 1.65x by the end of a 100-step second half; it keeps climbing with more steps).
    rmsprop = adaptive["RMSprop"]
    assert not rmsprop["rises_before_drop"]
    assert rmsprop["rises_after_drop"]
    assert min(rmsprop["end_over_before_drop"]) > 1.5


def test_adadelta_step_size_rises_when_gradients_shrink(adaptive: dict) -> None:
    # Supported, with a caveat the claim leaves out: Adadelta's step size also rises while
    # gradients are steady (its running mean of squared updates warms up from zero), so
    # "rises" is not specific to shrinking gradients. After the drop it rose 17-26x.
    adadelta = adaptive["Adadelta"]
    assert adadelta["rises_before_drop"]
    assert adadelta["rises_after_drop"]
    assert min(adadelta["end_over_before_drop"]) > 10
    assert adaptive["late_scale"] == LATE_SCALE


# ---- (c) Adam against SGD and SGD+momentum, each at its best stable lr ---------------------

# Measured verdicts, quick mode (200 steps). "tie" = neither settled / both at the loss floor.
MEASURED = {
    "ravine": {
        "settles_first_vs_SGD": "Adam",
        "lower_vs_SGD": "Adam",
        "settles_first_vs_SGD+momentum": "Adam",  # by 2 steps (82 vs 84): a photo finish
        "lower_vs_SGD+momentum": "Adam",
    },
    "rosenbrock": {
        "settles_first_vs_SGD": "tie",  # neither settles within 200 steps
        "lower_vs_SGD": "Adam",
        "settles_first_vs_SGD+momentum": "SGD+momentum",
        "lower_vs_SGD+momentum": "SGD+momentum",
    },
    "beale": {
        "settles_first_vs_SGD": "Adam",
        "lower_vs_SGD": "Adam",
        "settles_first_vs_SGD+momentum": "SGD+momentum",
        "lower_vs_SGD+momentum": "Adam",
    },
    "saddle": {
        "settles_first_vs_SGD": "SGD",
        "lower_vs_SGD": "SGD",
        "settles_first_vs_SGD+momentum": "Adam",
        "lower_vs_SGD+momentum": "SGD+momentum",
    },
}


@pytest.mark.parametrize("surface", list(SURFACES))
def test_adam_vs_sgd_measured_verdicts(adam: dict, surface: str) -> None:
    # Supported only in part. Against plain SGD Adam settles first or ends lower on ravine,
    # rosenbrock and beale, but plain SGD escapes the saddle first (12 vs 65 steps). Against
    # SGD+momentum the claim fails to settle first on rosenbrock and beale; Adam's edge on the
    # ravine is two steps. "Adam beats SGD" holds against plain SGD on 3 of 4 surfaces and
    # is a split decision against momentum.
    figures = adam["surfaces"][surface]
    verdicts = {key: figures[key] for key in MEASURED[surface]}
    assert verdicts == MEASURED[surface]


def test_adam_vs_sgd_figures_are_consistent_with_their_verdicts(adam: dict) -> None:
    for surface, figures in adam["surfaces"].items():
        runs = figures["runs"]
        for rival in ("SGD", "SGD+momentum"):
            a = runs["Adam"]["steps_to_tolerance"]
            b = runs[rival]["steps_to_tolerance"]
            verdict = figures[f"settles_first_vs_{rival}"]
            if a is not None and (b is None or a < b):
                assert verdict == "Adam", surface
            elif b is not None and (a is None or b < a):
                assert verdict == rival, surface
            else:
                assert verdict == "tie", surface
