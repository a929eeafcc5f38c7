"""Optimisers by name: mlnotebook's own first, torch's as the fallback.

`optim.name: adam` in a config finds `mlnotebook.optim.Adam` when the notebook
has it and `torch.optim.Adam` otherwise; the match ignores case, so `adamw`
and `AdamW` are the same. The other keys of the `optim` section are the
constructor's arguments (`lr`, `betas`, `weight_decay`, ...).

One name means something else in a training config: `muon` is
`MuonWithFallback` (translate/muon_with_fallback.py), which gives the model's
hidden weight matrices to Muon and every other parameter to a fallback
optimiser, since Muon alone cannot take embeddings, biases or norms. The plain
`mlnotebook.optim.Muon` is what the library exports under that name.
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


# Training-config names that mean a class other than the library's, and where it lives.
_TRAINING_OPTIMIZERS = {"muon": ("mlnotebook.translate.muon_with_fallback", "MuonWithFallback")}


def resolve_library_optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The class called `name` (case-insensitive) in mlnotebook.optim, else torch.optim."""
    for module_name in ("mlnotebook.optim", "torch.optim"):
        found = _find(module_name, name)
        if found is not None:
            return found
    known = "sgd, adagrad, adadelta, rmsprop, adam, adamw, muon"
    raise UserError(f"unknown optimiser {name!r} (e.g. {known})")


def resolve_optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The class `optim.name` means in a training config (case-insensitive)."""
    special = _TRAINING_OPTIMIZERS.get(name.lower())
    if special is not None:
        # imported here: that module imports this one
        return getattr(importlib.import_module(special[0]), special[1])
    return resolve_library_optimizer_class(name)
