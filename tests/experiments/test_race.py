"""The optimiser race: grid batching, the stability/selection rules, the files and the verb."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from mlnotebook.cli import main
from mlnotebook.errors import UserError
from mlnotebook.experiments.race import (
    LR_GRID,
    OPTIMISERS,
    RunSummary,
    oscillation_index,
    pick_best,
    race,
    run_race,
    settling_step,
    summarise_sweep,
    sweep_learning_rates,
)
from mlnotebook.surfaces import RAVINE_B, SURFACES

# torch's own optimisers, configured as the race configures its own.
TORCH_REFERENCE = {
    "SGD": lambda params, lr: torch.optim.SGD(params, lr=lr),
    "SGD+momentum": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    "SGD+Nesterov": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "Adagrad": lambda params, lr: torch.optim.Adagrad(params, lr=lr),
    "Adadelta": lambda params, lr: torch.optim.Adadelta(params, lr=lr),
    "RMSprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
}


def _solo_run(surface_name: str, optimiser: str, lr: float, steps: int) -> torch.Tensor:
    """One torch.optim run on its own, the plain way: [steps + 1, 2] positions."""
    surface = SURFACES[surface_name]
    point = surface.start_point().requires_grad_(True)
    opt = TORCH_REFERENCE[optimiser]([point], lr)
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface(point).backward()
        opt.step()
        path.append(point.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize("optimiser", list(OPTIMISERS))
def test_batched_grid_equals_separate_torch_runs(optimiser: str) -> None:
    lrs = (1e-4, 1e-3, 0.1)
    sweep = sweep_learning_rates(SURFACES["rosenbrock"], optimiser, steps=25, lrs=lrs)
    assert sweep.positions.shape == (26, 3, 2)
    compared = 0
    for i, lr in enumerate(lrs):
        expected = _solo_run("rosenbrock", optimiser, lr, 25)
        if torch.isfinite(expected).all():  # SGD blows up at lr 0.1; the race freezes it instead
            torch.testing.assert_close(sweep.positions[:, i], expected)
            compared += 1
    assert compared >= 2


def test_a_diverging_run_neither_leaks_nor_counts_as_stable() -> None:
    # SGD on a quadratic is stable iff lr < 2 / (largest curvature) = 2 / 15 on the ravine.
    lrs = (0.1, 1.0, 10.0)
    sweep = sweep_learning_rates(SURFACES["ravine"], "SGD", steps=400, lrs=lrs)
    runs = summarise_sweep(sweep)
    assert [run.stable for run in runs] == [lr < 2 / RAVINE_B for lr in lrs]
    torch.testing.assert_close(sweep.positions[:, 0], _solo_run("ravine", "SGD", 0.1, 400))


def test_settling_step_is_the_start_of_the_final_stretch_within_tolerance() -> None:
    def settle(flags: list[bool]) -> int | None:
        return settling_step(torch.tensor(flags))

    assert settle([False, True, True]) == 1
    assert settle([True, False, True]) == 2  # passing through early does not count
    assert settle([True, True, False]) is None  # left the band at the end
    assert settle([True, True]) == 0
    assert settle([False, False]) is None


def test_oscillation_index_against_hand_computation() -> None:
    monotone = torch.tensor([1.0, 0.6, 0.3, 0.1, 0.0])
    assert oscillation_index(monotone) == pytest.approx(1.0)
    # y_t = (-1/2)^t: each step moves 1.5 (1/2)^t, so TV = 3 (1 - 2^-T), net = 1 - (-1/2)^T.
    steps = 5
    zigzag = torch.tensor([(-0.5) ** t for t in range(steps + 1)], dtype=torch.float64)
    expected = 3 * (1 - 0.5**steps) / (1 - (-0.5) ** steps)
    assert oscillation_index(zigzag) == pytest.approx(expected)


def test_plain_sgd_on_the_ravine_oscillates_as_theory_says() -> None:
    # With lr = 0.1 the steep coordinate obeys y <- (1 - 0.1 * 15) y = -y / 2 exactly.
    steps = 60
    sweep = sweep_learning_rates(SURFACES["ravine"], "SGD", steps=steps, lrs=(0.1,))
    (run,) = summarise_sweep(sweep)
    expected = 3 * (1 - 0.5**steps) / (1 - (-0.5) ** steps)
    assert run.oscillation == pytest.approx(expected, rel=1e-9)


def _summary(lr: float, stable: bool = True, steps: int | None = None, loss: float = 1.0):
    return RunSummary(lr, stable, steps, loss, loss, None)


def test_pick_best_follows_the_stated_criterion() -> None:
    runs = [
        _summary(0.1, steps=None, loss=1e-9),  # never settles: ranks behind any that do
        _summary(0.2, steps=50, loss=1e-3),
        _summary(0.3, steps=40, loss=1e-2),  # settles first: the winner
        _summary(1.0, stable=False, steps=1, loss=0.0),  # unstable never wins
    ]
    assert pick_best(runs) == 2
    no_settlers = [_summary(0.1, loss=0.5), _summary(0.2, loss=0.25), _summary(0.3, loss=0.25)]
    assert pick_best(no_settlers) == 1  # lowest final loss, tie to the smaller lr
    assert pick_best([_summary(1.0, stable=False)]) is None


def test_race_entries_cover_every_pair_and_pick_from_the_grid() -> None:
    result = race(surfaces=("saddle",), steps=60)
    assert [e.optimiser for e in result.entries] == list(OPTIMISERS)
    for entry in result.entries:
        assert len(entry.runs) == len(LR_GRID)
        assert entry.best is not None and entry.best.stable
        assert entry.best.lr in LR_GRID
        assert entry.trajectory.shape == (61, 2)
        torch.testing.assert_close(entry.trajectory[0], SURFACES["saddle"].start_point())


def test_run_race_writes_table_and_figures(tmp_path: Path) -> None:
    result = run_race(tmp_path / "out", surfaces=("ravine",), steps=30)
    names = sorted(path.name for path in result.files)
    assert names == ["race.csv", "race.json", "race_ravine.png", "race_ravine.svg"]
    with open(tmp_path / "out" / "race.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["optimiser"] for row in rows] == list(OPTIMISERS)
    document = json.loads((tmp_path / "out" / "race.json").read_text())
    assert document["lr_grid"] == pytest.approx(list(LR_GRID))
    assert len(document["trajectories"]) == sum(e.trajectory is not None for e in result.entries)
    assert (tmp_path / "out" / "race_ravine.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "out" / "race_ravine.svg").read_bytes()[:2000]
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_run_race_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown surface"):
        run_race(tmp_path, surfaces=("bowl",), steps=5)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        run_race(tmp_path, steps=0)
    a_file = tmp_path / "taken"
    a_file.write_text("")
    with pytest.raises(UserError, match="not a directory"):
        run_race(a_file, steps=5)


def test_cli_race_prints_table_and_paths(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["race", "--out", str(tmp_path), "--surface", "saddle", "--steps", "20"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Optimiser race" in printed and "SGD+Nesterov" in printed
    assert "race_saddle.svg" in printed


def test_cli_race_bad_steps_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    code = main(["race", "--out", str(tmp_path), "--steps", "-3"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "steps must be a positive integer" in err
