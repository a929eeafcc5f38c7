"""Two processes under torchrun (Gloo on CPU) take the same steps as one process
that sees the whole global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlnotebook.errors import UserError
from mlnotebook.translate.checkpoint import load_checkpoint
from tests.translate.toy_run import build_trainer

ROOT = Path(__file__).resolve().parents[2]
# Label smoothing and clipping on, dropout off (each process draws its own masks).
OVERRIDES = ["train.max_steps=6", "train.valid_every=3", "train.checkpoint_every=3"]


def _run(command: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    toy = ["-m", "tests.translate.toy_run"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    _run([*torchrun, "--nproc_per_node", "2", *toy, str(tmp_path / "two"), *OVERRIDES])
    _run([sys.executable, *toy, str(tmp_path / "one"), *OVERRIDES])

    two = load_checkpoint(tmp_path / "two" / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "last.pt")
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    assert two["run_state"]["step"] == one["run_state"]["step"] == 6
    for name, tensor in one["model"].items():
        assert torch.allclose(two["model"][name], tensor, atol=1e-5, rtol=0), name
    # and the parameters did move: the comparison is not between two untouched models
    initial = build_trainer(str(tmp_path / "fresh"), OVERRIDES).model.state_dict()
    moved = max(float((one["model"][k] - initial[k]).abs().max()) for k in initial)
    assert moved > 1e-3

    # a two-process checkpoint cannot silently resume in one process
    with pytest.raises(UserError, match="same number"):
        build_trainer(str(tmp_path / "two"), ["train.max_steps=8"], resume=True)
