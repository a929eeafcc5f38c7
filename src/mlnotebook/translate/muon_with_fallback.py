"""Muon for a model's hidden weight matrices, another optimiser for the rest, as one optimiser.

Muon (mlnotebook/optim/muon.py) only makes sense for the 2-D weight matrices
of hidden layers. Embeddings and the output layer over the vocabulary are
matrices too, but each row belongs to one token and sees gradient only when
that token occurs, so orthogonalising them as a whole is the wrong geometry;
biases and norm gains are vectors. Those go to a *fallback* optimiser, AdamW
unless `optim.fallback` names another. `translate/param_groups.py` decides
which parameter is which and tags each param group `use_muon: True/False`.

`MuonWithFallback` is a single `torch.optim.Optimizer` so that everything
that drives one optimiser drives both halves: a learning-rate scheduler
scales every group's `lr` (Muon's and the fallback's keep their ratio), and
one `state_dict` holds both halves for an exact resume. It computes nothing
itself. It keeps a `Muon` and a fallback optimiser as *engines*: each holds
its kind's hyper-parameters (the defaults every group of that kind gets) and
its checks, and at `step` it is handed the composite's groups of its kind
and the composite's `state`, and steps them with its own update code.

A translation config:

    optim:
      name: muon                  # this class (the plain mlnotebook.optim.Muon outside configs)
      lr: 0.02                    # Muon's, for the hidden matrices
      adjust_lr_fn: original      # or match_rms_adamw: then one lr suits both halves
      fallback: adamw             # any optimiser name the registry knows
      fallback_lr: 0.001          # None (left out): the same lr as Muon
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from mlnotebook.errors import UserError
from mlnotebook.optim.muon import DEFAULT_NS_COEFFICIENTS, DEFAULT_NS_STEPS, EPS, Muon
from mlnotebook.translate.optim_registry import resolve_library_optimizer_class

# The composite's keyword for each fallback constructor argument it passes on.
FALLBACK_ARGUMENTS = {
    "fallback_lr": "lr",
    "fallback_betas": "betas",
    "fallback_eps": "eps",
    "fallback_weight_decay": "weight_decay",
}


def resolve_fallback(name: str) -> type[Optimizer]:
    """The fallback's class; UserError if unknown or if it cannot take any tensor."""
    found = resolve_library_optimizer_class(name)
    if issubclass(found, (Muon, torch.optim.Muon)):
        raise UserError(
            f"{name!r} cannot be the fallback: Muon takes only 2-D matrices (e.g. adamw)"
        )
    return found


def fallback_problem(params: dict[str, Any]) -> tuple[str, str] | None:
    """(key, what is wrong) for the first `optim` key that names a fallback that does
    not exist, or an argument that fallback does not take; None when all is well.
    The config loader calls this, so a typo fails before any data are read."""
    try:
        fallback_cls = resolve_fallback(params.get("fallback", "adamw"))
    except UserError as exc:
        return "fallback", str(exc)
    accepted = inspect.signature(fallback_cls).parameters
    for key, argument in FALLBACK_ARGUMENTS.items():
        if params.get(key) is not None and argument not in accepted:
            return key, f"{fallback_cls.__name__} takes no {argument!r}"
    return None


def _engine(cls: Callable[..., Optimizer], kwargs: dict[str, Any]) -> Optimizer:
    """An optimiser with these hyper-parameters and no parameters of its own."""
    # torch refuses an empty parameter list; a 1x1 stand-in (2-D, for Muon) is
    # dropped at once, having served to run the constructor's checks.
    engine = cls([torch.zeros(1, 1)], **kwargs)
    engine.param_groups.clear()
    return engine


class MuonWithFallback(Optimizer):
    """Muon on the groups tagged `use_muon: True`, the fallback on those tagged False.

    Arguments up to `adjust_lr_fn` are Muon's (same defaults as torch.optim.Muon).
    fallback: the optimiser for every other parameter, by name ("adamw", "adam", "sgd", ...).
    fallback_lr: its learning rate; None for Muon's `lr` (natural with
        adjust_lr_fn="match_rms_adamw", which scales Muon's steps to AdamW's size).
    fallback_betas, fallback_eps, fallback_weight_decay: its other arguments;
        None for the fallback's own defaults.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFICIENTS,
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
        *,
        fallback: str = "adamw",
        fallback_lr: float | None = None,
        fallback_betas: tuple[float, float] | None = None,
        fallback_eps: float | None = None,
        fallback_weight_decay: float | None = None,
    ) -> None:
        muon_kwargs = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        given = dict(
            fallback_lr=lr if fallback_lr is None else fallback_lr,
            fallback_betas=fallback_betas,
            fallback_eps=fallback_eps,
            fallback_weight_decay=fallback_weight_decay,
        )
        problem = fallback_problem({"fallback": fallback, **given})
        if problem is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")
        fallback_kwargs = {
            FALLBACK_ARGUMENTS[key]: value for key, value in given.items() if value is not None
        }
        # Set before Optimizer.__init__, which calls add_param_group.
        self._engines: dict[bool, Optimizer] = {
            True: _engine(Muon, muon_kwargs),
            False: _engine(resolve_fallback(fallback), fallback_kwargs),
        }
        defaults = dict(
            muon_kwargs,
            fallback=fallback,
            fallback_lr=fallback_lr,
            fallback_betas=fallback_betas,
            fallback_eps=fallback_eps,
            fallback_weight_decay=fallback_weight_decay,
        )
        super().__init__(params, defaults)

    # (key, problem) for a config's `optim` keys; see translate/config.py
    config_problem = staticmethod(fallback_problem)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group tagged `use_muon`; it gets its kind's defaults and checks."""
        use_muon = param_group.get("use_muon") if isinstance(param_group, dict) else None
        if not isinstance(use_muon, bool):
            raise ValueError(
                "MuonWithFallback: every param group needs use_muon: True (hidden weight "
                "matrices) or False (the rest); translate/param_groups.py makes them"
            )
        engine = self._engines[use_muon]
        engine.add_param_group(param_group)  # Muon refuses non-2-D tensors here
        engine.param_groups.clear()
        taken = {id(param) for group in self.param_groups for param in group["params"]}
        if any(id(param) in taken for param in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for use_muon, engine in self._engines.items():
            groups = [group for group in self.param_groups if group["use_muon"] == use_muon]
            if not groups:
                continue
            # The engine steps our groups, keeping its state in ours (looked up
            # afresh each step: load_state_dict replaces both).
            engine.param_groups, engine.state = groups, self.state
            try:
                engine.step()
            finally:
                engine.param_groups = []
        return loss

    def muon_parameters(self) -> list[Tensor]:
        return [p for group in self.param_groups if group["use_muon"] for p in group["params"]]

    def fallback_parameters(self) -> list[Tensor]:
        return [p for g in self.param_groups if not g["use_muon"] for p in g["params"]]
