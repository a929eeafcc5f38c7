"""Training on a budget: the budget schedule reaches zero when the run stops,
on steps or on either clock, also across a resume; the moving average and the
kept snapshots; the learning-curve fields of every validation."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from mlnotebook.translate import api
from mlnotebook.translate import trainer as trainer_module
from mlnotebook.translate.checkpoint import load_checkpoint
from tests.translate.toy_run import build_trainer

BUDGET = ["schedule.kind=budget", "schedule.warmup_steps=0", "optim.lr=0.01"]


def _records(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.fixture
def fake_clocks(monkeypatch):
    """Both clocks tick one second per reading: step k ends at k seconds."""

    def install():
        wall, cpu = itertools.count(), itertools.count()
        monkeypatch.setattr(trainer_module, "wall_time", lambda: float(next(wall)))
        monkeypatch.setattr(trainer_module, "cpu_time", lambda: float(next(cpu)))

    install()
    return install


def test_the_rate_reaches_zero_at_the_step_budget(tmp_path):
    run = tmp_path / "run"
    state = build_trainer(str(run), [*BUDGET, "train.max_steps=20", "train.log_every=1"]).fit()
    assert state.step == 20 and state.stop_reason == "max steps"
    rates = {r["step"]: r["lr"] for r in _records(run, "train")}
    # The rate logged at step k is the one for step k + 1: 0.01 * (1 - k / 20).
    for step in (1, 5, 10, 19):
        assert rates[step] == pytest.approx(0.01 * (1 - step / 20), rel=1e-9)
    assert rates[20] == 0.0


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_the_rate_reaches_zero_when_the_clock_budget_ends(tmp_path, fake_clocks, clock):
    run = tmp_path / "run"
    overrides = [*BUDGET, "train.max_steps=1000", "train.log_every=1"]
    overrides += ["train.max_minutes=0.25", f"train.budget_clock={clock}"]  # 15 fake seconds
    state = build_trainer(str(run), overrides).fit()
    assert state.step == 15 and state.stop_reason == "time budget"
    rates = {r["step"]: r["lr"] for r in _records(run, "train")}
    for step in (1, 7, 14):
        assert rates[step] == pytest.approx(0.01 * (1 - step / 15), rel=1e-9)
    assert rates[15] == 0.0


def test_a_resumed_budget_run_equals_an_uninterrupted_one(tmp_path, fake_clocks):
    overrides = [*BUDGET, "schedule.decay=rex", "schedule.warmup_steps=3"]
    overrides += ["train.max_steps=1000", "train.max_minutes=0.4", "train.log_every=1"]
    whole = tmp_path / "whole"
    build_trainer(str(whole), overrides).fit()

    fake_clocks()
    cut = tmp_path / "cut"
    first = build_trainer(str(cut), overrides)
    original_step = first._train_step

    def crash_after_ten(batch):
        if first.state.step == 10:  # the checkpoint of step 10 is on disk
            raise KeyboardInterrupt
        return original_step(batch)

    first._train_step = crash_after_ten
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    fake_clocks()
    build_trainer(str(cut), overrides, resume=True).fit()

    expected, resumed = load_checkpoint(whole / "last.pt"), load_checkpoint(cut / "last.pt")
    assert resumed["run_state"]["step"] == expected["run_state"]["step"] == 24
    for name, tensor in expected["model"].items():
        assert torch.allclose(resumed["model"][name], tensor, atol=1e-7, rtol=0), name
    whole_rates = [r["lr"] for r in _records(whole, "train")]
    assert [r["lr"] for r in _records(cut, "train")] == pytest.approx(whole_rates, rel=1e-12)
    assert whole_rates[-1] == 0.0


def test_a_resume_with_a_larger_budget_follows_the_new_budget(tmp_path, fake_clocks):
    run = tmp_path / "run"
    overrides = [*BUDGET, "train.max_steps=1000", "train.log_every=1"]
    build_trainer(str(run), [*overrides, "train.max_minutes=0.25"]).fit()  # 15 s, ends at 0
    fake_clocks()
    build_trainer(str(run), [*overrides, "train.max_minutes=0.5"], resume=True).fit()  # 30 s
    rates = {r["step"]: r["lr"] for r in _records(run, "train")}
    assert rates[15] == 0.0  # the first run's end, as logged then
    for step in (16, 20, 29):
        assert rates[step] == pytest.approx(0.01 * (1 - step / 30), rel=1e-9)
    assert max(rates) == 30 and rates[30] == 0.0


def test_validation_records_both_clocks_and_chrf(tmp_path, fake_clocks):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=20"]).fit()
    valid = _records(run, "valid")
    assert [r["step"] for r in valid] == [10, 20]
    assert [r["wall_s"] for r in valid] == [10.0, 20.0]
    assert [r["cpu_s"] for r in valid] == [10.0, 20.0]
    assert all(0.0 <= r["chrf"] <= 100.0 and "bleu" in r for r in valid)


def test_an_average_with_decay_zero_is_saved_equal_to_the_raw_weights(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=10", "train.ema_decay=0.0"]).fit()
    last = load_checkpoint(run / "last.pt")
    assert last["ema_updates"] == 10
    for name, tensor in last["model"].items():
        assert torch.equal(last["ema"][name], tensor), name
    valid = _records(run, "valid")
    assert valid[-1]["raw_nll"] == pytest.approx(valid[-1]["nll"], rel=1e-12)


def test_an_average_is_validated_and_preferred_when_loading(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=20", "train.ema_decay=0.9"]).fit()
    last = load_checkpoint(run / "last.pt")
    differs = [n for n, t in last["model"].items() if not torch.equal(last["ema"][n], t)]
    assert differs  # a real average, not a copy
    valid = _records(run, "valid")
    assert all(r["nll"] != r["raw_nll"] for r in valid)


def test_snapshots_are_kept_and_averaged(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=30", "train.keep_checkpoints=3"]).fit()
    kept = sorted(p.name for p in (run / "snapshots").glob("*.pt"))
    assert kept == ["step-0000020.pt", "step-0000025.pt", "step-0000030.pt"]
    snapshot_states = [load_checkpoint(run / "snapshots" / name)["model"] for name in kept]
    out = api.average_checkpoints(run, last=3)
    averaged = load_checkpoint(out)
    assert averaged["averaged"] == kept
    for name, tensor in averaged["model"].items():
        want = torch.stack([s[name].double() for s in snapshot_states]).mean(0)
        torch.testing.assert_close(tensor.double(), want, rtol=0, atol=1e-7)


def test_the_average_of_one_snapshot_is_that_snapshot(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=10", "train.keep_checkpoints=1"]).fit()
    out = api.average_checkpoints(run, last=1, out_name="one.pt")
    snapshot = load_checkpoint(run / "snapshots" / "step-0000010.pt")["model"]
    for name, tensor in load_checkpoint(out)["model"].items():
        assert torch.equal(tensor, snapshot[name]), name


def test_averaging_more_snapshots_than_kept_says_so(tmp_path):
    from mlnotebook.errors import UserError

    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=10", "train.keep_checkpoints=1"]).fit()
    with pytest.raises(UserError, match="fewer than --last 4"):
        api.average_checkpoints(run, last=4)
    for name in ("../outside.pt", "best.pt", "sub/x.pt"):
        with pytest.raises(UserError, match="--out"):
            api.average_checkpoints(run, last=1, out_name=name)
