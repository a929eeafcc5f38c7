"""Optimisers by name: mlnotebook's own first, torch's as the fallback.

`optim.name: adam` in a config finds `mlnotebook.optim.Adam` when the notebook
has it and `torch.optim.Adam` otherwise; the match ignores case, so `adamw`
and `AdamW` are the same. The other keys of the `optim` section are the
constructor's arguments (`lr`, `betas`, `weight_decay`, ...).
"""

from __future__ import annotations

import importlib

import torch

from mlnotebook.errors import UserError


def _find(module_name: str, name: str) -> type[torch.optim.Optimizer] | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for attr in dir(module):
        value = getattr(module, attr)
        if (
            attr.lower() == name.lower()
            and isinstance(value, type)
            and issubclass(value, torch.optim.Optimizer)
        ):
            return value
    return None


def resolve_optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The optimiser class called `name` (case-insensitive)."""
    for module_name in ("mlnotebook.optim", "torch.optim"):
        found = _find(module_name, name)
        if found is not None:
            return found
    known = "sgd, adagrad, adadelta, rmsprop, adam, adamw"
    raise UserError(f"unknown optimiser {name!r} (e.g. {known})")
