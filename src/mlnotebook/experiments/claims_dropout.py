"""Does batch normalisation reduce the need for dropout? Measured where dropout is needed.

The claim (Ioffe and Szegedy 2015: batch norm "regularizes the model and reduces the
need for Dropout") presupposes a network that needs dropout: one that over-fits, so that
dropout raises its test accuracy. A network that is under-trained, or has plenty of data
for its size, cannot show the claim either way. So the experiment first makes the need:

- the digits MLP of `bn_sweep` (64 -> 256 -> 256 -> 256 -> 10), trained on a small
  random subset of the training split (`TRAIN_SIZE` images, drawn per seed) for long
  enough to fit it exactly, and tested on the whole test split (540 images);
- four models per seed, each from the same initial weights and batch order: plain and
  batch norm, each without and with dropout (p = 0.5 after every hidden ReLU, the value
  Srivastava et al. use for hidden units), SGD with momentum 0.9 (the optimiser dropout
  was introduced with) at one rate (`LR`) for all, long enough to fit the subset;
- per seed, dropout's gain in test accuracy for each model (with minus without), and
  the reduction (the plain model's gain minus the batch-norm model's), each given as a
  mean over seeds with its 95 % t interval.

Premises, each a figure the claim's entry checks before any verdict:
- `plain_fits_training_set`: the plain model reaches 100 % training accuracy (it can
  over-fit; else there is no need for dropout to reduce);
- `dropout_helps_plain`: dropout's gain for the plain model is above zero with its whole
  interval (the need exists on this set-up);
- `horizon_stable`: the decisions are the same after twice the epochs
  (`protocol.horizon_check`).

In full mode the same four models on the full training split (1,257 images) are
reported beside it (`full_split`): the earlier set-up, where dropout was not needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

import torch
from torch.nn import functional as F

from mlnotebook.experiments.bn_sweep import DigitsSplit, build_mlp, load_digits_split
from mlnotebook.experiments.protocol import horizon_check, t_interval
from mlnotebook.experiments.threads import one_thread
from mlnotebook.optim import SGD

TRAIN_SIZE = 200  # images per seed: few enough for a 200k-weight MLP to over-fit
DROPOUT = 0.5
LR = 0.02  # with momentum 0.9: a long-run step of 0.2
MOMENTUM = 0.9
BATCH = 32
FULL = {"seeds": tuple(range(8)), "epochs": 150}
QUICK = {"seeds": tuple(range(4)), "epochs": 60}
MODELS = {"plain": False, "batch_norm": True}


@dataclass(frozen=True)
class Run:
    """Train and test accuracy of one model after `epochs` and after twice that."""

    train: tuple[float, float]
    test: tuple[float, float]


def subset(split: DigitsSplit, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` training images drawn without replacement, the same for every model of a seed."""
    if size >= len(split.y_train):
        return split.x_train, split.y_train
    order = torch.randperm(len(split.y_train), generator=torch.Generator().manual_seed(seed))
    index = order[:size]
    return split.x_train[index], split.y_train[index]


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(dim=1) == y).float().mean().item()  # share of correct labels


def train_run(
    batch_norm: bool, dropout: float, seed: int, epochs: int, data: tuple, split: DigitsSplit
) -> Run:
    """SGD for 2 * epochs, reading train and test accuracy after `epochs` and at the end."""
    x, y = data
    torch.manual_seed(seed)
    model = build_mlp(batch_norm=batch_norm, dropout=dropout)  # same Linear draws per seed
    optimiser = SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    generator = torch.Generator().manual_seed(seed)  # same batch order for every model
    readings = []
    for epoch in range(1, 2 * epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(order) - 1, BATCH):  # drop a last batch of one (batch norm)
            index = order[start : start + BATCH]
            # L = -(1/B) sum_b log softmax(f(x_b))_{y_b}
            loss = F.cross_entropy(model(x[index]), y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        if epoch in (epochs, 2 * epochs):
            readings.append((accuracy(model, x, y), accuracy(model, split.x_test, split.y_test)))
    (train_h, test_h), (train_2h, test_2h) = readings
    return Run((train_h, train_2h), (test_h, test_2h))


def measure(runs: dict, seeds: tuple[int, ...], at: int) -> dict:
    """Figures at reading `at` (0: the horizon, 1: twice it) from runs[(model, p, seed)]."""

    def test(model: str, p: float, seed: int) -> float:
        return runs[(model, p, seed)].test[at]

    gains = {
        m: [test(m, DROPOUT, s) - test(m, 0.0, s) for s in seeds] for m in MODELS
    }  # dropout's gain per seed: acc(with) - acc(without)
    reduction = [p - b for p, b in zip(gains["plain"], gains["batch_norm"], strict=True)]
    figures: dict = {
        m: {
            "train_accuracy": mean(runs[(m, 0.0, s)].train[at] for s in seeds),
            "test_accuracy": mean(test(m, 0.0, s) for s in seeds),
            "test_accuracy_dropout": mean(test(m, DROPOUT, s) for s in seeds),
        }
        for m in MODELS
    }
    figures["dropout_gain"] = {m: t_interval(gains[m]) for m in MODELS}
    figures["reduction"] = t_interval(reduction)
    return figures


def decisions(figures: dict) -> dict[str, bool]:
    """What the verdict rests on: the need exists, and the reduction is clearly positive."""
    return {
        "dropout_helps_plain": figures["dropout_gain"]["plain"]["low"] > 0,
        "reduction_positive": figures["reduction"]["low"] > 0,
        "reduction_negative": figures["reduction"]["high"] < 0,
    }


def study(size: int, seeds: tuple[int, ...], epochs: int) -> dict:
    split = load_digits_split()
    runs = {}
    for seed in seeds:
        data = subset(split, size, seed)
        for model, batch_norm in MODELS.items():
            for p in (0.0, DROPOUT):
                runs[(model, p, seed)] = train_run(batch_norm, p, seed, epochs, data, split)
    check = horizon_check(
        lambda h: measure(runs, seeds, 0 if h == epochs else 1), decisions, epochs
    )
    figures = {**check.at_horizon, **check.figures()}
    figures["plain_fits_training_set"] = figures["plain"]["train_accuracy"] == 1.0
    figures["dropout_helps_plain"] = check.decisions["dropout_helps_plain"]
    figures["train_size"] = min(size, len(split.y_train))
    return figures


def claim_batch_norm_dropout(quick: bool = True) -> dict:
    settings = QUICK if quick else FULL
    with one_thread():
        figures = study(TRAIN_SIZE, settings["seeds"], settings["epochs"])
        if not quick:  # the earlier set-up, for comparison: all 1,257 images, 4 seeds
            full = study(10**9, settings["seeds"][:4], 30)
            keys = ("plain", "batch_norm", "dropout_gain", "reduction", "train_size")
            figures["full_split"] = {k: full[k] for k in keys}
    figures.update(seeds=len(settings["seeds"]), lr=LR, momentum=MOMENTUM, dropout=DROPOUT)
    return figures
