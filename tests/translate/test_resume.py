"""Kill a training run with SIGKILL after a checkpoint, resume it, and get the
same parameters as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from mlnotebook.translate.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
# Dropout, scheduled sampling and a warm-up schedule, so the RNG, the scheduler
# and the optimiser state all have to be restored for the runs to agree.
OVERRIDES = [
    "train.max_steps=40",
    "train.checkpoint_every=5",
    "train.valid_every=10",
    "model.dropout=0.3",
    "train.teacher_forcing=0.7",
    "schedule.kind=warmup",
    "schedule.d_model=24",
    "schedule.warmup_steps=10",
    "optim.lr=0.5",
]


def _launch(out_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.translate.toy_run", str(out_dir), *OVERRIDES, *extra]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output


def _wait_for_checkpoint(path: Path, process: subprocess.Popen, min_step: int) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        if path.is_file():
            step = load_checkpoint(path)["run_state"]["step"]
            if step >= min_step:
                return step
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    whole = _launch(tmp_path / "whole")
    _finish(whole)

    interrupted = tmp_path / "interrupted"
    process = _launch(interrupted, "--sleep=0.06")
    step_at_kill = _wait_for_checkpoint(interrupted / "last.pt", process, min_step=10)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    saved_step = load_checkpoint(interrupted / "last.pt")["run_state"]["step"]
    assert step_at_kill <= saved_step < 40

    _finish(_launch(interrupted, "--resume"))

    expected = load_checkpoint(tmp_path / "whole" / "last.pt")
    resumed = load_checkpoint(interrupted / "last.pt")
    assert resumed["run_state"]["step"] == 40
    for name, tensor in expected["model"].items():
        assert torch.allclose(resumed["model"][name], tensor, atol=1e-6, rtol=0), name
    for a, b in zip(
        expected["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(), strict=True
    ):
        assert torch.allclose(a["exp_avg_sq"], b["exp_avg_sq"], atol=1e-9, rtol=1e-5)
    assert expected["scheduler"]["last_epoch"] == resumed["scheduler"]["last_epoch"] == 40

    # The log of the resumed run describes every step once.
    records = [
        json.loads(line) for line in (interrupted / "metrics.jsonl").read_text().splitlines()
    ]
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == list(range(5, 41, 5))
    whole_records = (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
    whole_valid = [json.loads(x)["nll"] for x in whole_records if '"valid"' in x]
    resumed_valid = [r["nll"] for r in records if r["kind"] == "valid"]
    assert resumed_valid == [float(v) for v in whole_valid] or all(
        abs(a - b) < 1e-6 for a, b in zip(resumed_valid, whole_valid, strict=True)
    )
