"""The batch-norm sweep in quick mode: what it writes, and what it measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mlnotebook.errors import UserError
from mlnotebook.experiments import bn_sweep
from mlnotebook.nn.batch_norm import BatchNorm1d


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out_dir = tmp_path_factory.mktemp("bn_sweep")
    return bn_sweep.run_bn_sweep(out_dir, quick=True), out_dir


def test_writes_figures_and_json_with_every_run(quick_run):
    summary, out_dir = quick_run
    for name in ("bn_sweep.png", "bn_sweep.svg", "bn_sweep.json"):
        assert (out_dir / name).stat().st_size > 0, name
    assert (out_dir / "bn_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out_dir.glob("*.tmp"))  # atomic writes leave no temporaries
    document = json.loads((out_dir / "bn_sweep.json").read_text())
    config = bn_sweep.QUICK
    assert document["config"]["learning_rates"] == list(config.learning_rates)
    assert document["config"]["n_train"] + document["config"]["n_test"] == 1797
    expected_runs = len(bn_sweep.MODELS) * len(config.learning_rates) * len(config.seeds)
    assert len(document["runs"]) == expected_runs
    assert len(document["dropout_runs"]) == len(bn_sweep.MODELS) * 2 * len(config.seeds)
    for run in document["runs"] + document["dropout_runs"]:
        assert 0.0 <= run["test_accuracy"] <= 1.0
        assert isinstance(run["diverged"], bool)
        # a run with no finite final loss must be marked diverged
        assert run["final_train_loss"] is not None or run["diverged"]
    assert document["summary"]["sweep"] == json.loads(json.dumps(summary["sweep"]))


def test_summary_is_consistent_with_its_runs(quick_run):
    summary, out_dir = quick_run
    runs = json.loads((out_dir / "bn_sweep.json").read_text())["runs"]
    for model in bn_sweep.MODELS:
        model_summary = summary["sweep"][model]
        per_lr = model_summary["per_lr"]
        assert [row["lr"] for row in per_lr] == list(bn_sweep.QUICK.learning_rates)
        for row in per_lr:
            accuracies = [
                r["test_accuracy"] for r in runs if r["model"] == model and r["lr"] == row["lr"]
            ]
            assert row["mean_test_accuracy"] == pytest.approx(sum(accuracies) / len(accuracies))
        best = max(row["mean_test_accuracy"] for row in per_lr)
        assert model_summary["best_mean_test_accuracy"] == best
        reached = [
            row["lr"] for row in per_lr if row["mean_test_accuracy"] >= bn_sweep.ACCURACY_TARGET
        ]
        assert model_summary["lrs_reaching_target"] == reached


def test_measured_verdict_batch_norm_trains_where_plain_fails(quick_run):
    """Pinned because it is what the quick run measured; the full run agrees (module docstring).

    With plain SGD for 10 epochs, the MLP with BatchNorm1d reached >= 90 % test
    accuracy at lr = 1.0, where the same MLP without it stayed far from it.
    Neither model learns at lr = 10 (both far below 50 %): batch norm widens the
    usable range, it does not remove the upper limit. Whether the batch-norm run
    at lr = 10 counts as *diverged* (loss above its start) is not pinned: that
    run is chaotic, and repeated runs landed on either side of the line.
    """
    sweep = quick_run[0]["sweep"]
    assert 1.0 in sweep["lrs_where_only_batch_norm_reaches_target"]
    assert sweep["lrs_where_only_plain_reaches_target"] == []
    assert (
        sweep["batch_norm"]["best_mean_test_accuracy"] > sweep["plain"]["best_mean_test_accuracy"]
    )
    for model in bn_sweep.MODELS:
        at_ten = sweep[model]["per_lr"][-1]
        assert at_ten["lr"] == 10.0
        assert at_ten["mean_test_accuracy"] < 0.5


def test_measured_dropout_effect_is_small_with_batch_norm(quick_run):
    """Pinned as measured, not as claimed.

    "Batch norm reduces the need for dropout" predicts dropout helps the plain
    MLP more than the batch-norm one. At lr = 0.1 the quick run measured
    dropout (p = 0.2) moving test accuracy by well under 2 points in *both*
    models: on this small problem there is little need for dropout to reduce,
    so the data neither confirm nor refute the claim.
    """
    dropout = quick_run[0]["dropout"]
    assert abs(dropout["batch_norm"]["dropout_gain"]) < 0.02
    assert abs(dropout["plain"]["dropout_gain"]) < 0.02


def test_initial_loss_probe_leaves_running_stats_alone():
    split = bn_sweep.load_digits_split()
    torch.manual_seed(0)
    model = bn_sweep.build_mlp(batch_norm=True, dropout=0.5)
    loss = bn_sweep.initial_train_loss(model, split)
    assert math.isfinite(loss) and loss > 0
    norms = [m for m in model.modules() if isinstance(m, BatchNorm1d)]
    assert len(norms) == len(bn_sweep.HIDDEN_SIZES)
    for norm in norms:
        assert norm.num_batches_tracked.item() == 0
        assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))
    # the probe uses no dropout, so asking twice gives the same number
    assert bn_sweep.initial_train_loss(model, split) == loss


def test_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    with pytest.raises(UserError, match="not_a_dir exists and is not a directory"):
        bn_sweep.run_bn_sweep(target, quick=True)
