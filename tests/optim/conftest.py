"""Shared fixtures for the optimiser tests: a small real model, and the
flag combinations each optimiser is checked under."""

from __future__ import annotations

import torch
from torch import nn

# (class name, constructor kwargs): every flag each optimiser has, alone and
# combined, with non-default values so that a flag silently ignored shows.
CASES: list[tuple[str, dict]] = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.05}),
    ("Adagrad", {"weight_decay": 0.1}),
    ("Adagrad", {"initial_accumulator_value": 0.3, "eps": 1e-6}),
    ("Adagrad", {"maximize": True, "lr_decay": 0.01, "weight_decay": 0.05}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5}),
    ("Adadelta", {"weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "weight_decay": 0.05}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "alpha": 0.9}),
    ("RMSprop", {"weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.3, "amsgrad": True}),
    ("AdamW", {"maximize": True, "lr": 0.01}),
]


def case_id(case: tuple[str, dict]) -> str:
    name, kwargs = case
    flags = ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"
    return f"{name}[{flags}]"


class SmallNet(nn.Module):
    """An MLP with a frozen middle layer and a side branch used only on some
    steps (its parameters then have grad None)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 16)
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)
        self.out = nn.Linear(16, 3)
        self.side = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, use_side: bool) -> torch.Tensor:
        hidden = torch.tanh(self.frozen(torch.tanh(self.inp(x))))
        y = self.out(hidden)
        return y + self.side(x) if use_side else y


def make_net(dtype: torch.dtype, seed: int = 0) -> SmallNet:
    torch.manual_seed(seed)
    return SmallNet().to(dtype)


def train_steps(net: SmallNet, optimizer, steps: int, dtype: torch.dtype, seed: int = 1) -> None:
    """Seeded regression steps; the side branch is used on 2 steps out of 3.

    An optimiser that maximises gets the negated loss, so that both kinds
    run a stable descent (ascending an MSE diverges, and a diverging run
    compares nothing)."""
    sign = -1.0 if optimizer.defaults.get("maximize") else 1.0
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x = torch.randn(32, 6, generator=generator, dtype=dtype)
        target = torch.randn(32, 3, generator=generator, dtype=dtype)
        optimizer.zero_grad()
        loss = sign * ((net(x, use_side=step % 3 != 2) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
