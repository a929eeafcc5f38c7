"""Does batch norm let a network learn at learning rates where it otherwise fails?

The batch-norm paper's headline practical claim is that normalising each
layer's inputs lets you train with much larger learning rates. This experiment
measures that on real data small enough for a laptop: scikit-learn's bundled
8x8 handwritten digits (1,797 images, 10 classes, no download).

Two models with the same layers and the same initial weights per seed:

- `plain`:      64 -> 256 -> 256 -> 256 -> 10, ReLU between layers;
- `batch_norm`: the same, with our `BatchNorm1d` after each hidden Linear
  (before the ReLU, as in the paper).

Each is trained with plain mini-batch SGD (no momentum, no weight decay, no
schedule) for a fixed number of epochs at every learning rate of a log-spaced
grid, several seeds each. Pixels are scaled from 0..16 to 0..1; the split is
fixed (seeded, stratified, 30 % test). A run *diverged* if its training loss
became non-finite, or if its mean mini-batch loss over the last epoch ended
above the initial loss: the untrained model's loss on the whole training set
(batch norm using that set's statistics, dropout off).

A second, smaller measurement looks at another claim often repeated from the
paper, "batch norm reduces the need for dropout": both models with and without
dropout (p = `DROPOUT`, after each hidden ReLU) at one learning rate fixed in
advance (`DROPOUT_LR`), reporting test accuracy and what dropout adds or costs
in each. The numbers are written as measured, whichever way they fall.

What the full run measured (30 epochs, 5 seeds, 9 rates from 1e-3 to 10):
the plain MLP reached 90 % mean test accuracy only at lr 0.1 and 0.32 (best
97.7 %) and blew up from lr 1 on; with batch norm it reached 90 % at every rate
from 1e-3 to 3.2 (best 99.2 %) and failed, without blowing up, at 10 (25 %).
Dropout at lr 0.1 changed mean test accuracy by +0.3 points without batch norm
and -0.1 with it, both inside the spread between seeds: on this small problem
neither model showed a need for dropout, so the claim is neither supported nor
refuted here.

`run_bn_sweep(out_dir)` writes `bn_sweep.json` (configuration, every run, the
summary) and `bn_sweep.png`/`.svg` (test accuracy against learning rate) and
returns the summary.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mlnotebook.errors import UserError
from mlnotebook.nn.batch_norm import BatchNorm1d

try:  # the notebook's own optimiser once it exists; torch's is the same update
    from mlnotebook.optim import SGD
except ImportError:  # pragma: no cover - depends on what else is installed
    from torch.optim import SGD

MODELS = ("plain", "batch_norm")
HIDDEN_SIZES = (256, 256, 256)
BATCH_SIZE = 64
TEST_FRACTION = 0.3
SPLIT_SEED = 0
ACCURACY_TARGET = 0.90  # "trains well": mean test accuracy over seeds at least this
DROPOUT = 0.2
DROPOUT_LR = 0.1  # fixed before any run: the middle of the grid, a common SGD default


@dataclass(frozen=True)
class SweepConfig:
    learning_rates: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int


FULL = SweepConfig(tuple(np.logspace(-3, 1, 9).tolist()), seeds=(0, 1, 2, 3, 4), epochs=30)
QUICK = SweepConfig(tuple(np.logspace(-3, 1, 5).tolist()), seeds=(0,), epochs=10)


@dataclass(frozen=True)
class DigitsSplit:
    x_train: Tensor  # [n_train, 64], pixel values in [0, 1]
    y_train: Tensor  # [n_train] class ids
    x_test: Tensor  # [n_test, 64]
    y_test: Tensor  # [n_test]


@dataclass(frozen=True)
class RunResult:
    model: str
    dropout: float
    lr: float
    seed: int
    initial_loss: float  # untrained model, whole training set
    final_train_loss: float  # mean mini-batch loss over the last epoch (nan if it blew up)
    test_accuracy: float
    diverged: bool


def load_digits_split() -> DigitsSplit:
    """The bundled digits, scaled to [0, 1], split once with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0  # pixel intensities 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return DigitsSplit(*(torch.from_numpy(a) for a in (x_train, y_train, x_test, y_test)))


def build_mlp(batch_norm: bool, dropout: float = 0.0, in_features: int = 64) -> nn.Sequential:
    """Linear -> [BatchNorm1d] -> ReLU -> [Dropout] per hidden layer, then a Linear head."""
    layers: list[nn.Module] = []
    width = in_features
    for hidden in HIDDEN_SIZES:
        layers.append(nn.Linear(width, hidden))
        if batch_norm:
            layers.append(BatchNorm1d(hidden))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def _train_epoch(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    split: DigitsSplit,
    generator: torch.Generator,
) -> list[float]:
    """One pass over shuffled mini-batches; each batch's loss, up to a non-finite one."""
    model.train()
    order = torch.randperm(len(split.y_train), generator=generator)
    losses = []
    for start in range(0, len(order), BATCH_SIZE):
        index = order[start : start + BATCH_SIZE]
        if len(index) < 2:  # batch norm needs two examples to have a variance
            continue
        # cross-entropy: L = -(1/B) sum_b log softmax(f(x_b))_{y_b}
        loss = F.cross_entropy(model(split.x_train[index]), split.y_train[index])
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return losses


@torch.no_grad()
def initial_train_loss(model: nn.Module, split: DigitsSplit) -> float:
    """Loss of the untrained model on the whole training set, leaving `model` untouched.

    A copy runs in train mode, so batch norm normalises with the statistics of
    this set (as during training) without moving the original's running
    averages; dropout is switched off so the number is not noisy.
    """
    probe = copy.deepcopy(model).train()
    for module in probe.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    return F.cross_entropy(probe(split.x_train), split.y_train).item()


@torch.no_grad()
def test_accuracy(model: nn.Module, split: DigitsSplit) -> float:
    model.eval()
    predictions = model(split.x_test).argmax(dim=1)  # [n_test]
    return (predictions == split.y_test).float().mean().item()


def train_one(
    model_name: str, lr: float, seed: int, split: DigitsSplit, epochs: int, dropout: float = 0.0
) -> RunResult:
    """Train one model from a seeded start; both models draw the same Linear weights per seed."""
    torch.manual_seed(seed)
    model = build_mlp(batch_norm=model_name == "batch_norm", dropout=dropout)
    optimiser = SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)  # same batch order for both models
    initial_loss = initial_train_loss(model, split)
    last_epoch: list[float] = []
    for _ in range(epochs):
        last_epoch = _train_epoch(model, optimiser, split, generator)
        if not math.isfinite(last_epoch[-1]):
            break
    final_loss = float(np.mean(last_epoch))
    diverged = not math.isfinite(final_loss) or final_loss > initial_loss
    return RunResult(
        model=model_name,
        dropout=dropout,
        lr=lr,
        seed=seed,
        initial_loss=initial_loss,
        final_train_loss=final_loss if math.isfinite(final_loss) else math.nan,
        test_accuracy=test_accuracy(model, split),
        diverged=diverged,
    )


def sweep(split: DigitsSplit, config: SweepConfig) -> list[RunResult]:
    """Every model at every learning rate and seed, without dropout."""
    return [
        train_one(model, lr, seed, split, config.epochs)
        for model in MODELS
        for lr in config.learning_rates
        for seed in config.seeds
    ]


def dropout_study(split: DigitsSplit, config: SweepConfig) -> list[RunResult]:
    """Both models, with and without dropout, at the fixed learning rate DROPOUT_LR."""
    return [
        train_one(model, DROPOUT_LR, seed, split, config.epochs, dropout=dropout)
        for model in MODELS
        for dropout in (0.0, DROPOUT)
        for seed in config.seeds
    ]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summarise_sweep(runs: Sequence[RunResult], config: SweepConfig) -> dict:
    """Per model: mean accuracy per lr, divergences, best lr, where the target is reached."""
    summary: dict = {}
    for model in MODELS:
        per_lr = []
        for lr in config.learning_rates:
            at_lr = [r for r in runs if r.model == model and r.lr == lr]
            per_lr.append(
                {
                    "lr": lr,
                    "mean_test_accuracy": _mean([r.test_accuracy for r in at_lr]),
                    "diverged_runs": sum(r.diverged for r in at_lr),
                    "runs": len(at_lr),
                }
            )
        best = max(per_lr, key=lambda row: row["mean_test_accuracy"])
        good = [row["lr"] for row in per_lr if row["mean_test_accuracy"] >= ACCURACY_TARGET]
        summary[model] = {
            "per_lr": per_lr,
            "best_mean_test_accuracy": best["mean_test_accuracy"],
            "best_lr": best["lr"],
            "lrs_reaching_target": good,
            "lr_range_reaching_target": [min(good), max(good)] if good else None,
        }
    plain_good = set(summary["plain"]["lrs_reaching_target"])
    bn_good = set(summary["batch_norm"]["lrs_reaching_target"])
    summary["lrs_where_only_batch_norm_reaches_target"] = sorted(bn_good - plain_good)
    summary["lrs_where_only_plain_reaches_target"] = sorted(plain_good - bn_good)
    return summary


def summarise_dropout(runs: Sequence[RunResult]) -> dict:
    """Mean test accuracy with and without dropout, and the difference dropout makes."""
    result: dict = {"lr": DROPOUT_LR, "dropout": DROPOUT}
    for model in MODELS:
        without = _mean([r.test_accuracy for r in runs if r.model == model and r.dropout == 0])
        with_ = _mean([r.test_accuracy for r in runs if r.model == model and r.dropout > 0])
        result[model] = {
            "mean_test_accuracy_without_dropout": without,
            "mean_test_accuracy_with_dropout": with_,
            "dropout_gain": with_ - without,
        }
    return result


def plot_sweep(runs: Sequence[RunResult], summary: dict, out_dir: Path) -> list[Path]:
    """Test accuracy against learning rate, both models; diverged runs drawn as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"plain": ("tab:blue", "plain MLP"), "batch_norm": ("tab:orange", "MLP + BatchNorm1d")}
    for model, (colour, label) in styles.items():
        rows = summary[model]["per_lr"]
        ax.plot(
            [r["lr"] for r in rows],
            [r["mean_test_accuracy"] for r in rows],
            "-o",
            color=colour,
            label=f"{label} (mean over seeds)",
        )
        for diverged, marker in ((False, "."), (True, "x")):
            points = [r for r in runs if r.model == model and r.diverged == diverged]
            ax.scatter(
                [r.lr for r in points],
                [r.test_accuracy for r in points],
                marker=marker,
                s=40 if diverged else 12,
                color=colour,
                alpha=0.9 if diverged else 0.4,
                label=f"{label}: diverged run" if diverged and points else None,
            )
    ax.axhline(ACCURACY_TARGET, color="grey", linestyle=":", linewidth=1, label="accuracy target")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("learning rate (plain SGD)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Digits (8x8): test accuracy after a fixed number of epochs")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
    paths = [_save_figure(fig, out_dir / f"bn_sweep.{suffix}") for suffix in ("png", "svg")]
    plt.close(fig)
    return paths


def _save_figure(fig, path: Path) -> Path:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        fig.savefig(tmp, format=path.suffix[1:], dpi=120, bbox_inches="tight")
    os.replace(tmp.name, path)
    return path


def _write_json(document: dict, path: Path) -> Path:
    text = json.dumps(_without_nan(document), indent=1, allow_nan=False) + "\n"
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)
    return path


def _without_nan(value):
    """JSON has no NaN: a blown-up run's loss is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    return value


def run_bn_sweep(out_dir: Path, quick: bool = False) -> dict:
    """Run the sweep and the dropout study; write JSON and figures; return the summary."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"bn_sweep: output path {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = QUICK if quick else FULL
    started = time.perf_counter()
    split = load_digits_split()
    runs = sweep(split, config)
    dropout_runs = dropout_study(split, config)
    summary = {
        "quick": quick,
        "sweep": summarise_sweep(runs, config),
        "dropout": summarise_dropout(dropout_runs),
        "seconds": round(time.perf_counter() - started, 2),
    }
    document = {
        "config": {
            **asdict(config),
            "hidden_sizes": list(HIDDEN_SIZES),
            "batch_size": BATCH_SIZE,
            "test_fraction": TEST_FRACTION,
            "split_seed": SPLIT_SEED,
            "n_train": len(split.y_train),
            "n_test": len(split.y_test),
            "accuracy_target": ACCURACY_TARGET,
            "optimiser": f"{SGD.__module__}.{SGD.__name__}",
        },
        "summary": summary,
        "runs": [asdict(r) for r in runs],
        "dropout_runs": [asdict(r) for r in dropout_runs],
    }
    _write_json(document, out_dir / "bn_sweep.json")
    plot_sweep(runs, summary["sweep"], out_dir)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Batch norm learning-rate sweep on digits.")
    parser.add_argument("--out", type=Path, default=Path("runs/bn_sweep"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="fewer rates, seeds and epochs")
    args = parser.parse_args(argv)
    summary = run_bn_sweep(args.out, quick=args.quick)
    print(json.dumps(_without_nan(summary), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
