"""The training loop on a toy reverse-the-sequence task (seconds on a CPU)."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.errors import UserError
from mlnotebook.nn.transformer import TransformerSeq2Seq
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.lr_schedule import noam_multiplier
from mlnotebook.translate.trainer import TeacherForcing, token_loss_sums
from tests.translate.toy_run import PAD, build_trainer


def _records(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_label_smoothed_loss_matches_hand_computation():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    target = torch.tensor([[1, 4, PAD], [2, PAD, PAD]])
    smoothed, nll, tokens = token_loss_sums(logits, target, PAD, label_smoothing=0.2)
    log_p = F.log_softmax(logits, -1)
    expected_nll = expected_smooth = 0.0
    for b, t in [(0, 0), (0, 1), (1, 0)]:
        y = int(target[b, t])
        expected_nll -= float(log_p[b, t, y])
        # (1 - eps) * -log p(y) + eps * mean over all 5 classes of -log p(v)
        expected_smooth += 0.8 * -float(log_p[b, t, y]) + 0.2 * -float(log_p[b, t].mean())
    assert int(tokens) == 3
    assert float(nll) == pytest.approx(expected_nll, rel=1e-5)
    assert float(smoothed) == pytest.approx(expected_smooth, rel=1e-5)


def test_training_learns_the_toy_task_and_writes_its_outputs(tmp_path):
    run = tmp_path / "run"
    state = build_trainer(str(run), ["train.max_steps=60"]).fit()
    assert state.step == 60 and state.stop_reason == "max steps"
    valid = _records(run, "valid")
    assert [r["step"] for r in valid] == [10, 20, 30, 40, 50, 60]
    assert valid[-1]["nll"] < valid[0]["nll"] - 0.5
    assert all(math.isfinite(r["bleu"]) for r in valid)
    train = _records(run, "train")
    assert all(r["tokens_per_s"] > 0 for r in train)
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = load_checkpoint(run / "last.pt")
    assert last["run_state"]["step"] == 60
    assert set(last) >= {"model", "optimizer", "scheduler", "rng", "run_state", "config"}
    best = load_checkpoint(run / "best.pt")
    best_step = min(valid, key=lambda r: r["nll"])["step"]
    assert best["run_state"]["step"] == best_step


def test_gradient_clipping_bounds_the_update(tmp_path):
    # SGD with lr 1 moves the parameters by exactly the clipped gradient.
    trainer = build_trainer(
        str(tmp_path / "run"),
        ["optim.name=sgd", "optim.lr=1.0", "train.clip_grad_norm=0.01", "train.max_steps=1"],
    )
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    after = list(trainer.model.parameters())
    moved = torch.sqrt(
        sum(((p.detach() - b) ** 2).sum() for p, b in zip(after, before, strict=True))
    )
    assert float(moved) == pytest.approx(0.01, rel=1e-4)


def test_warmup_schedule_sets_the_noam_rate(tmp_path):
    run = tmp_path / "run"
    overrides = [
        "schedule.kind=warmup",
        "schedule.d_model=24",
        "schedule.warmup_steps=10",
        "optim.lr=2.0",
        "train.max_steps=20",
    ]
    build_trainer(str(run), overrides).fit()
    for record in _records(run, "train"):
        expected = 2.0 * noam_multiplier(record["step"], 24, 10, 1.0)
        assert record["lr"] == pytest.approx(expected, rel=1e-6)


def test_plateau_schedule_cuts_the_rate_after_patience(tmp_path):
    run = tmp_path / "run"
    overrides = ["schedule.kind=plateau", "schedule.plateau_patience=0", "optim.lr=0.01"]
    overrides += ["schedule.plateau_factor=0.5", "train.max_steps=40"]
    trainer = build_trainer(str(run), overrides)
    # A validation loss that never improves: the first sets the best, each later one cuts.
    trainer.validate = lambda: {"loss": 1.0, "nll": 1.0, "ppl": math.e}
    trainer.fit()
    lr_at = {r["step"]: r["lr"] for r in _records(run, "train")}
    assert lr_at[15] == pytest.approx(0.01)
    assert lr_at[25] == pytest.approx(0.005)
    assert lr_at[35] == pytest.approx(0.0025)


def test_early_stopping_after_patience_without_gain(tmp_path):
    run = tmp_path / "run"
    trainer = build_trainer(str(run), ["optim.lr=0.0", "train.patience=2", "train.max_steps=200"])
    state = trainer.fit()
    # validations at 10 (best), 20 and 30 (no gain): stop at 30
    assert state.step == 30
    assert state.stop_reason.startswith("early stopping")


def test_time_budget_stops_the_run(tmp_path):
    run = tmp_path / "run"
    trainer = build_trainer(
        str(run), ["train.max_minutes=0.002", "train.max_steps=100000"], sleep=0.02
    )
    state = trainer.fit()
    assert state.stop_reason == "time budget"
    assert 0.12 <= state.elapsed_seconds < 30.0  # generous: the machine may be busy
    assert load_checkpoint(run / "last.pt")["run_state"]["step"] == state.step


def test_cpu_time_budget_ignores_time_spent_waiting(tmp_path):
    run = tmp_path / "run"
    overrides = ["train.max_minutes=0.002", "train.max_steps=100000", "train.budget_clock=cpu"]
    trainer = build_trainer(str(run), overrides, sleep=0.02)
    wall_started = time.monotonic()
    state = trainer.fit()
    wall = time.monotonic() - wall_started
    assert state.stop_reason == "time budget"
    assert state.elapsed_seconds >= 0.12  # 0.002 min of this process's CPU time
    # each step sleeps 0.02 s, which a CPU clock does not count
    assert wall >= state.elapsed_seconds + 0.02 * state.step * 0.9


def test_teacher_forcing_ratio_zero_feeds_the_models_own_guesses(tmp_path):
    trainer = build_trainer(str(tmp_path / "run"), ["train.max_steps=1"])
    model = trainer.model.eval()
    src = torch.tensor([[4, 5, 6], [7, 8, PAD]])
    tgt_in = torch.tensor([[2, 9, 9, 9], [2, 9, 9, 9]])
    sampled = TeacherForcing(model, 0.0, PAD, 0.0).sampled(src, tgt_in)  # [B, T, V]
    # the same thing by hand: feed back the argmax
    state, prev, expected = model.encode(src), tgt_in[:, 0], []
    for _ in range(4):
        log_probs, state, _ = model.decode_step(state, prev)
        expected.append(log_probs)
        prev = log_probs.argmax(-1)
    assert torch.allclose(sampled, torch.stack(expected, 1), atol=1e-6)
    tgt_out = torch.tensor([[9, 9, 9, 3], [9, 9, 3, PAD]])
    forced = TeacherForcing(model, 1.0, PAD, 0.1)(src, tgt_in, tgt_out)
    expected_sums = token_loss_sums(model(src, tgt_in), tgt_out, PAD, 0.1)
    for got, want in zip(forced, expected_sums, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("compile_loss", [False, True])
def test_transformer_fast_loss_path_equals_logits_path_with_gradients(compile_loss):
    torch.manual_seed(0)
    model = TransformerSeq2Seq(
        30, 30, pad_id=PAD, d_model=16, num_heads=2, num_encoder_layers=1,
        num_decoder_layers=1, d_ff=32, dropout=0.0, compile_loss=compile_loss,
    ).double()  # fmt: skip
    src = torch.tensor([[4, 5, 6, 7], [8, 9, PAD, PAD]])
    tgt_in = torch.tensor([[1, 10, 11, 12, 13], [1, 14, 15, PAD, PAD]])
    tgt_out = torch.tensor([[10, 11, 12, 13, 2], [14, 15, 2, PAD, PAD]])
    forward = TeacherForcing(model, 1.0, PAD, 0.1)
    fast = forward(src, tgt_in, tgt_out)  # through model.loss_sums
    slow = token_loss_sums(model(src, tgt_in), tgt_out, PAD, 0.1)
    for got, want in zip(fast, slow, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    params = list(model.parameters())
    fast_grads = torch.autograd.grad(fast[0], params)
    for got, want in zip(fast_grads, torch.autograd.grad(slow[0], params), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_scheduled_sampling_trains(tmp_path):
    state = build_trainer(
        str(tmp_path / "run"), ["train.teacher_forcing=0.5", "train.max_steps=12"]
    ).fit()
    assert state.step == 12


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(UserError, match="nothing to resume"):
        build_trainer(str(run), resume=True)
    build_trainer(str(run), ["train.max_steps=5"]).fit()
    with pytest.raises(UserError, match="already holds a run"):
        build_trainer(str(run))


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=5"]).fit()
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt") as info:
        build_trainer(str(run), resume=True)
    assert "\n" not in str(info.value)
    (run / "last.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="corrupt"):
        build_trainer(str(run), resume=True)


def test_checkpoint_from_another_model_config_is_refused(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=5"]).fit()
    with pytest.raises(UserError, match=r"model\.hidden_dim=24.*32"):
        build_trainer(str(run), ["model.hidden_dim=32"], resume=True)


def test_resuming_a_finished_run_with_more_steps_continues(tmp_path):
    run = tmp_path / "run"
    build_trainer(str(run), ["train.max_steps=10"]).fit()
    state = build_trainer(str(run), ["train.max_steps=15"], resume=True).fit()
    assert state.step == 15
    steps = [r["step"] for r in _records(run, "train")]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("family", ["seq2seq", "luong", "bahdanau", "transformer"])
def test_every_model_family_trains_validates_and_resumes(tmp_path, family):
    run = tmp_path / "run"
    first = build_trainer(str(run), ["train.max_steps=10"], family=family)
    first.fit()
    valid = _records(run, "valid")
    assert valid and math.isfinite(valid[-1]["nll"]) and "bleu" in valid[-1]
    resumed = build_trainer(str(run), ["train.max_steps=12"], resume=True, family=family)
    assert resumed.fit().step == 12


def test_progress_bar_shows_loss_and_throughput_on_a_terminal(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    build_trainer(str(tmp_path / "run"), ["train.max_steps=10", "train.progress=true"]).fit()
    err = capsys.readouterr().err
    assert "tok/s" in err and "loss" in err and "10/10" in err
