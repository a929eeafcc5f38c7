"""Learning-rate schedules compared at a fixed step budget, on the bundled digits.

The budget-schedule entry claims that a rate which decays to zero exactly when the
budget ends beats one that stays high, and that a plain linear decay is at least as
good as cosine or REX when the budget is small. Here every schedule gets the same
number of optimiser steps on the same mini-batches from the same initial weights
(compute-matched and paired by seed), each at its own best peak rate times:

    constant      warm(t)                              LambdaLR on our warmup_factor
    inverse_sqrt  min(t / w, sqrt(w / t))              NoamWarmup with d_model = 1 and
                                                       factor = sqrt(w), so its peak is 1
    linear        warm(t) (1 - p)                      BudgetDecay
    cosine        warm(t) (1 + cos(pi p)) / 2          BudgetDecay
    rex           warm(t) (1 - p) / (1/2 + (1 - p)/2)  BudgetDecay

with warm(t) = min(1, t / w), w a tenth of the budget, the same for every schedule,
and p the share of the budget spent. Model: the digits MLP 64 -> 128 -> 128 -> 10 with
ReLU; SGD with momentum 0.9; batches of 64. Pixels are scaled to [0, 1]; the 30 %
held out by `bn_sweep.load_digits_split` is cut (stratified, seeded) into a validation
half, which picks each schedule's peak rate from the grid (lowest mean cross-entropy
over seeds), and a test half, on which the chosen runs are scored.

Two budgets, SHORT_STEPS (about 2.5 epochs) and four times that, show whether the
ranking holds as the budget grows. For each budget and schedule we report the mean test
loss and accuracy, the per-seed values, and a 95 % t interval of the paired per-seed
difference to the constant schedule (`gain_vs_constant`: constant's loss minus the
schedule's, so positive means the schedule did better; `relative` divides its mean by
constant's mean loss, since losses shrink as the budget grows) and of linear against
cosine and REX (`gain_of_linear_over`: the other's loss minus linear's).

The seeds of one (schedule, rate) run are trained together as a stack of independent
MLPs: weights [seeds, in, out] multiplied with `torch.bmm`, and a loss that sums each
seed's own mean cross-entropy. SGD is elementwise, so each seed's slice follows exactly
the update it would get alone (tests/experiments/test_claims_budget.py checks this);
the stack only saves Python overhead. Full mode: 10 seeds and 7 rates. Quick mode:
3 seeds and the 3 rates around which the full run found every schedule's best (0.18,
0.32, 0.56); a coarser quick grid (0.1, 0.32, 1) missed the constant schedule's best
rate and so overstated what decay gains over it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.nn import functional as F
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from mlnotebook.experiments.bn_sweep import load_digits_split
from mlnotebook.experiments.protocol import t_interval
from mlnotebook.experiments.threads import one_thread
from mlnotebook.optim.budget_schedule import BudgetDecay, warmup_factor
from mlnotebook.optim.schedules import NoamWarmup
from mlnotebook.optim.sgd import SGD

SCHEDULES = ("constant", "inverse_sqrt", "linear", "cosine", "rex")
DECAYING = ("linear", "cosine", "rex")  # the ones that reach zero at the end of the budget
SHORT_STEPS = 50  # the long budget is LONG_FACTOR times this
LONG_FACTOR = 4
WARMUP_FRACTION = 0.1  # w = a tenth of the budget, for every schedule
HIDDEN_SIZES = (128, 128)
BATCH_SIZE = 64
MOMENTUM = 0.9
SPLIT_SEED = 0
CLASSES = 10


@dataclass(frozen=True)
class BudgetConfig:
    learning_rates: tuple[float, ...]  # peak rates tried by every schedule
    seeds: tuple[int, ...]


# 10^(-1.5 + k/4), k = 0..6: 0.032 to 1 in quarter decades; quick takes k = 3, 4, 5.
FULL = BudgetConfig(tuple(float(10 ** (-1.5 + k / 4)) for k in range(7)), seeds=tuple(range(10)))
QUICK = BudgetConfig(FULL.learning_rates[3:6], seeds=(0, 1, 2))


@dataclass(frozen=True)
class Split:
    x_train: Tensor  # [n_train, 64]
    y_train: Tensor  # [n_train]
    x_validation: Tensor  # [n_validation, 64]
    y_validation: Tensor  # [n_validation]
    x_test: Tensor  # [n_test, 64]
    y_test: Tensor  # [n_test]


@dataclass(frozen=True)
class Scores:
    """One (schedule, rate, budget) run, one value per seed."""

    validation_loss: list[float]
    test_loss: list[float]
    test_accuracy: list[float]


def load_split() -> Split:
    """bn_sweep's train part; its held-out 30 % halved into validation and test."""
    digits = load_digits_split()
    x_val, x_test, y_val, y_test = train_test_split(
        digits.x_test.numpy(),
        digits.y_test.numpy(),
        test_size=0.5,
        random_state=SPLIT_SEED,
        stratify=digits.y_test.numpy(),
    )
    held_out = (torch.from_numpy(a) for a in (x_val, y_val, x_test, y_test))
    return Split(digits.x_train, digits.y_train, *held_out)


# ---- a stack of independent MLPs, one per seed -----------------------------------------------


def init_stack(seeds: Sequence[int], in_features: int = 64) -> list[Tensor]:
    """[weight, bias, ...] with a leading seed axis; each seed draws its own weights.

    Same law as nn.Linear's default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a
    generator seeded per seed, so seed 3 starts from the same weights in any stack.
    """
    sizes = (in_features, *HIDDEN_SIZES, CLASSES)
    per_seed = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = fan_in**-0.5
            weight = (2 * torch.rand(fan_in, fan_out, generator=generator) - 1) * bound
            bias = (2 * torch.rand(1, fan_out, generator=generator) - 1) * bound
            layers += [weight, bias]
        per_seed.append(layers)
    # transpose [seed][tensor] -> [tensor] stacked over seeds: [seeds, fan_in, fan_out], ...
    return [torch.stack(group).requires_grad_() for group in zip(*per_seed, strict=True)]


def forward(params: Sequence[Tensor], inputs: Tensor) -> Tensor:
    """inputs [seeds, batch, 64] -> logits [seeds, batch, 10]; ReLU between layers."""
    hidden = inputs
    for index in range(0, len(params), 2):
        # h <- b + h W, per seed
        hidden = torch.baddbmm(params[index + 1], hidden, params[index])
        if index + 2 < len(params):
            hidden = hidden.relu()
    return hidden


def per_seed_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy per seed: logits [seeds, batch, 10], targets [seeds, batch] -> [seeds]."""
    seeds, batch, classes = logits.shape
    losses = F.cross_entropy(logits.reshape(-1, classes), targets.reshape(-1), reduction="none")
    return losses.view(seeds, batch).mean(dim=1)


def batch_indices(seed: int, steps: int, n_train: int) -> Tensor:
    """[steps, batch]: one seeded stream of reshuffled epochs, shared by every schedule."""
    generator = torch.Generator().manual_seed(10_000 + seed)
    epochs = math.ceil(steps * BATCH_SIZE / n_train)
    stream = torch.cat([torch.randperm(n_train, generator=generator) for _ in range(epochs)])
    return stream[: steps * BATCH_SIZE].view(steps, BATCH_SIZE)


# ---- one run ----------------------------------------------------------------------------------


def build_schedule(name: str, optimiser: SGD, steps: int, warmup_steps: int) -> LRScheduler:
    """Each schedule from our classes, all with peak multiplier 1 and the same warm-up."""
    if name == "constant":
        return LambdaLR(optimiser, lambda index: warmup_factor(index + 1, warmup_steps))
    if name == "inverse_sqrt":
        # factor * d_model^-1/2 * min(t^-1/2, t w^-3/2) with d_model = 1, factor = sqrt(w):
        # min(sqrt(w / t), t / w), which is 1 at t = w
        return NoamWarmup(optimiser, d_model=1, warmup_steps=warmup_steps, factor=warmup_steps**0.5)
    return BudgetDecay(optimiser, total_steps=steps, warmup_steps=warmup_steps, shape=name)


def train_stack(
    schedule: str, lr: float, steps: int, seeds: Sequence[int], split: Split
) -> list[Tensor]:
    """Train one MLP per seed for `steps` SGD steps under `schedule` at peak rate `lr`."""
    params = init_stack(seeds)
    optimiser = SGD(params, lr=lr, momentum=MOMENTUM)
    scheduler = build_schedule(schedule, optimiser, steps, max(1, round(WARMUP_FRACTION * steps)))
    batches = torch.stack([batch_indices(s, steps, len(split.y_train)) for s in seeds], dim=1)
    for index in batches:  # index: [seeds, batch]
        # each seed's gradient is that of its own loss: d(sum_s L_s) / d(theta_s) = dL_s / d theta_s
        loss = per_seed_loss(forward(params, split.x_train[index]), split.y_train[index]).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
    return params


@torch.no_grad()
def evaluate(params: Sequence[Tensor], inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Per-seed mean loss and accuracy on one held-out set: ([seeds], [seeds])."""
    seeds = params[0].shape[0]
    logits = forward(params, inputs.expand(seeds, *inputs.shape))  # [seeds, n, 10]
    labels = targets.expand(seeds, *targets.shape)  # [seeds, n]
    accuracy = (logits.argmax(dim=-1) == labels).float().mean(dim=1)
    return per_seed_loss(logits, labels), accuracy


def run_one(schedule: str, lr: float, steps: int, seeds: Sequence[int], split: Split) -> Scores:
    params = train_stack(schedule, lr, steps, seeds, split)
    validation_loss, _ = evaluate(params, split.x_validation, split.y_validation)
    test_loss, test_accuracy = evaluate(params, split.x_test, split.y_test)
    return Scores(validation_loss.tolist(), test_loss.tolist(), test_accuracy.tolist())


# ---- summaries --------------------------------------------------------------------------------


def _finite_mean(values: Sequence[float]) -> float:
    """Mean over seeds; a blown-up seed (NaN or inf) makes the rate unusable: inf."""
    return float(np.mean(values)) if all(math.isfinite(v) for v in values) else math.inf


def paired_interval(better: Sequence[float], worse: Sequence[float]) -> dict:
    """Mean of the per-seed differences `worse - better` and its 95 % t interval."""
    differences = np.asarray(worse, dtype=float) - np.asarray(better, dtype=float)
    return t_interval(differences)


def summarise_schedule(by_lr: dict[float, Scores], seeds: Sequence[int]) -> dict:
    """The rate with the lowest mean validation loss, and its test figures."""
    rates = sorted(by_lr)
    best_lr = min(rates, key=lambda lr: _finite_mean(by_lr[lr].validation_loss))
    best = by_lr[best_lr]
    return {
        "loss": float(np.mean(best.test_loss)),
        "accuracy": float(np.mean(best.test_accuracy)),
        "best_lr": best_lr,
        "best_lr_at_grid_edge": best_lr in (rates[0], rates[-1]),
        "validation_loss": _finite_mean(best.validation_loss),
        "validation_loss_per_lr": [
            {"lr": lr, "loss": _finite_mean(by_lr[lr].validation_loss)} for lr in rates
        ],
        "seeds": [
            {"seed": seed, "loss": loss, "accuracy": accuracy}
            for seed, loss, accuracy in zip(seeds, best.test_loss, best.test_accuracy, strict=True)
        ],
    }


def _per_seed(summary: dict, key: str) -> list[float]:
    return [row[key] for row in summary["seeds"]]


def _gain_vs_constant(schedule: dict, constant: dict) -> dict:
    """Constant's loss minus the schedule's, per seed; `relative`: the mean over constant's mean."""
    gain = paired_interval(_per_seed(schedule, "loss"), _per_seed(constant, "loss"))
    return {**gain, "relative": gain["mean"] / constant["loss"]}


def summarise_budget(steps: int, schedules: dict[str, dict]) -> dict:
    constant = schedules["constant"]
    others = [name for name in SCHEDULES if name != "constant"]
    linear = schedules["linear"]
    return {
        "steps": steps,
        "warmup_steps": max(1, round(WARMUP_FRACTION * steps)),
        "schedules": schedules,
        "gain_vs_constant": {name: _gain_vs_constant(schedules[name], constant) for name in others},
        # accuracy: the schedule's minus constant's (positive: the schedule did better)
        "accuracy_gain_vs_constant": {
            name: paired_interval(
                _per_seed(constant, "accuracy"), _per_seed(schedules[name], "accuracy")
            )
            for name in others
        },
        "gain_of_linear_over": {
            name: paired_interval(_per_seed(linear, "loss"), _per_seed(schedules[name], "loss"))
            for name in ("cosine", "rex")
        },
        "lowest_loss": min(SCHEDULES, key=lambda name: schedules[name]["loss"]),
    }


def claim_budget_schedules(quick: bool = True) -> dict:
    """Every schedule at every rate and both budgets; per budget the summary above."""
    config = QUICK if quick else FULL
    started = time.perf_counter()
    split = load_split()
    budgets = {}
    with one_thread():
        for label, steps in (("short", SHORT_STEPS), ("long", LONG_FACTOR * SHORT_STEPS)):
            schedules = {
                name: summarise_schedule(
                    {
                        lr: run_one(name, lr, steps, config.seeds, split)
                        for lr in config.learning_rates
                    },
                    config.seeds,
                )
                for name in SCHEDULES
            }
            budgets[label] = summarise_budget(steps, schedules)
    return {
        "quick": quick,
        "learning_rates": list(config.learning_rates),
        "seeds": len(config.seeds),
        "optimiser": f"SGD, momentum {MOMENTUM}, batch {BATCH_SIZE}",
        "n_train": len(split.y_train),
        "n_validation": len(split.y_validation),
        "n_test": len(split.y_test),
        "budgets": budgets,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _finite_or_null(value: object) -> object:
    """JSON has no NaN or infinity: a blown-up rate's loss is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(item) for item in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; write its figures as JSON (full run: results/budget_schedules.json)."""
    parser = argparse.ArgumentParser(description="Learning-rate schedules at a fixed step budget.")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="3 seeds and 3 rates")
    args = parser.parse_args(argv)
    figures = claim_budget_schedules(quick=args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite_or_null(figures), indent=1, allow_nan=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({figures['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
