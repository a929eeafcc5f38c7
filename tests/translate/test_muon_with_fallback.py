"""`optim.name: muon` in training: MuonWithFallback equals a plain Muon on the hidden
matrices plus a plain fallback optimiser on the rest, resumes exactly, is driven by
schedulers, is checked when the config loads, and trains the toy task."""

from __future__ import annotations

import copy
import inspect
import io
import json

import pytest
import torch
from torch import nn

from mlnotebook.errors import UserError
from mlnotebook.optim import SGD, AdamW, Muon
from mlnotebook.translate.config import config_from_dict
from mlnotebook.translate.model_registry import build_model
from mlnotebook.translate.muon_with_fallback import MuonWithFallback
from mlnotebook.translate.optim_registry import (
    resolve_library_optimizer_class,
    resolve_optimizer_class,
)
from mlnotebook.translate.param_groups import muon_param_groups
from mlnotebook.translate.trainer import TeacherForcing
from tests.translate.toy_run import PAD, TINY_MODELS, VOCAB, build_trainer, collate, make_pairs

PAIRS = make_pairs(64, seed=3)


def _model(family: str = "transformer") -> nn.Module:
    params = dict(TINY_MODELS[family])
    torch.manual_seed(0)
    return build_model(params.pop("family"), params, VOCAB)


def _train(model: nn.Module, optimizers: list[torch.optim.Optimizer], steps: range) -> None:
    """Teacher-forced steps on the toy task; step i's batch depends only on i."""
    forward = TeacherForcing(model, 1.0, PAD, label_smoothing=0.1)
    for step in steps:
        start = (step * 16) % len(PAIRS)
        batch = collate(PAIRS[start : start + 16])
        for optimizer in optimizers:
            optimizer.zero_grad()
        smoothed, _, tokens = forward(batch.src, batch.tgt_in, batch.tgt_out)
        (smoothed / tokens).backward()
        for optimizer in optimizers:
            optimizer.step()


def _assert_same_parameters(first: nn.Module, second: nn.Module) -> None:
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b), name


# -- the registry and the constructor ----------------------------------------------


def test_registry_means_the_composite_in_configs_and_muon_in_the_library():
    assert resolve_optimizer_class("muon") is MuonWithFallback
    assert resolve_optimizer_class("Muon") is MuonWithFallback
    assert resolve_library_optimizer_class("muon") is Muon
    assert resolve_optimizer_class("adamw") is AdamW


def test_constructor_takes_muons_arguments_and_the_fallbacks():
    ours = inspect.signature(MuonWithFallback).parameters
    muon = inspect.signature(Muon).parameters
    for name, parameter in muon.items():
        assert ours[name].default == parameter.default, name
    assert list(ours)[len(muon) :] == [
        "fallback",
        "fallback_lr",
        "fallback_betas",
        "fallback_eps",
        "fallback_weight_decay",
    ]
    assert ours["fallback"].default == "adamw"


# -- the numbers: plain Muon + plain fallback ------------------------------------------


@pytest.mark.parametrize("family", ["transformer", "luong"])
def test_groups_step_as_plain_muon_and_plain_adamw(family):
    composite_model, plain_model = _model(family), _model(family)
    composite = MuonWithFallback(
        muon_param_groups(composite_model),
        lr=0.02,
        adjust_lr_fn="match_rms_adamw",
        fallback_lr=0.003,
        fallback_betas=(0.8, 0.95),
        fallback_eps=1e-6,
        fallback_weight_decay=0.05,
    )
    hidden, rest = muon_param_groups(plain_model)
    plain = [
        Muon(hidden["params"], lr=0.02, adjust_lr_fn="match_rms_adamw"),
        AdamW(rest["params"], lr=0.003, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05),
    ]
    _train(composite_model, [composite], range(5))
    _train(plain_model, plain, range(5))
    _assert_same_parameters(composite_model, plain_model)
    assert not torch.equal(
        composite_model.src_embedding.weight, _model(family).src_embedding.weight
    )
    # the composite's state is the two plain optimisers' states, entry for entry
    twin = dict(zip(plain_model.parameters(), composite_model.parameters(), strict=True))
    assert len(composite.state) == sum(len(optimizer.state) for optimizer in plain)
    for optimizer in plain:
        for param, state in optimizer.state.items():
            ours = composite.state[twin[param]]
            assert ours.keys() == state.keys()
            assert all(torch.equal(ours[key], value) for key, value in state.items())


def test_fallback_by_name_with_same_lr():
    composite_model, plain_model = _model("luong"), _model("luong")
    composite = MuonWithFallback(
        muon_param_groups(composite_model), lr=0.05, nesterov=False, fallback="sgd"
    )
    hidden, rest = muon_param_groups(plain_model)
    plain = [Muon(hidden["params"], lr=0.05, nesterov=False), SGD(rest["params"], lr=0.05)]
    _train(composite_model, [composite], range(4))
    _train(plain_model, plain, range(4))
    _assert_same_parameters(composite_model, plain_model)


def test_groups_carry_their_kinds_settings():
    model = _model()
    composite = MuonWithFallback(muon_param_groups(model), lr=0.02, fallback_lr=0.001)
    muon_group, fallback_group = composite.param_groups
    muon_keys = Muon([torch.zeros(2, 2)]).param_groups[0].keys()
    adamw_keys = AdamW([torch.zeros(2)]).param_groups[0].keys()
    assert muon_group.keys() == muon_keys | {"use_muon"}
    assert fallback_group.keys() == adamw_keys | {"use_muon"}
    assert (muon_group["lr"], fallback_group["lr"]) == (0.02, 0.001)
    assert fallback_group["weight_decay"] == 1e-2  # AdamW's own default


# -- state_dict, resume, schedulers -------------------------------------------------


def test_state_dict_resume_continues_identically():
    kwargs = {"lr": 0.02, "fallback_lr": 0.005}
    straight_model = _model()
    straight = MuonWithFallback(muon_param_groups(straight_model), **kwargs)
    _train(straight_model, [straight], range(6))

    first_model = _model()
    first = MuonWithFallback(muon_param_groups(first_model), **kwargs)
    _train(first_model, [first], range(3))
    buffer = io.BytesIO()
    torch.save({"model": first_model.state_dict(), "optimizer": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed_model = _model()
    resumed_model.load_state_dict(saved["model"])
    resumed = MuonWithFallback(muon_param_groups(resumed_model), lr=0.5)  # replaced by the load
    resumed.load_state_dict(saved["optimizer"])
    _train(resumed_model, [resumed], range(3, 6))

    _assert_same_parameters(resumed_model, straight_model)
    mine, theirs = resumed.state_dict(), straight.state_dict()
    assert mine["param_groups"] == theirs["param_groups"]
    for index, state in theirs["state"].items():
        assert all(torch.equal(mine["state"][index][k], v) for k, v in state.items())


def test_a_scheduler_drives_every_group():
    model = _model()
    composite = MuonWithFallback(muon_param_groups(model), lr=0.02, fallback_lr=0.004)
    scheduler = torch.optim.lr_scheduler.LambdaLR(composite, lambda step: 0.5**step)
    for _ in range(2):
        _train(model, [composite], range(1))
        scheduler.step()
    assert [group["lr"] for group in composite.param_groups] == pytest.approx([0.005, 0.001])


# -- refusals ---------------------------------------------------------------------------


def test_refuses_what_it_cannot_do():
    model = _model()
    hidden, rest = muon_param_groups(model)
    with pytest.raises(ValueError, match="use_muon"):
        MuonWithFallback(model.parameters())
    with pytest.raises(ValueError, match="2D"):
        MuonWithFallback([{"params": rest["params"], "use_muon": True}])
    with pytest.raises(ValueError, match="more than one parameter group"):
        MuonWithFallback([hidden, {"params": hidden["params"][:1], "use_muon": False}])
    with pytest.raises(ValueError, match="cannot be the fallback"):
        MuonWithFallback([hidden, rest], fallback="muon")
    with pytest.raises(ValueError, match="fallback: unknown optimiser 'adamx'"):
        MuonWithFallback([hidden, rest], fallback="adamx")
    with pytest.raises(ValueError, match="Learning rate should be >= 0"):
        MuonWithFallback([hidden, rest], lr=-1.0)


def _config(**optim) -> dict:
    return {"model": {"family": "transformer"}, "optim": {"name": "muon", **optim}}


def test_config_checks_the_fallback_when_it_loads():
    with pytest.raises(UserError) as caught:
        config_from_dict(_config(fallback="adamx"), "run.yaml")
    message = str(caught.value)
    assert "optim.fallback" in message and "adamx" in message and "\n" not in message
    with pytest.raises(UserError, match=r"optim\.fallback_betas: SGD takes no 'betas'"):
        config_from_dict(_config(fallback="sgd", fallback_betas=[0.9, 0.99]), "run.yaml")
    with pytest.raises(UserError, match=r"optim\.fallback: 'muon' cannot be the fallback"):
        config_from_dict(_config(fallback="muon"), "run.yaml")
    config = config_from_dict(
        _config(lr=0.02, ns_coefficients=[3, -4.5, 2], fallback="Adam", fallback_lr=0.001)
    )
    assert config.optim.params["ns_coefficients"] == (3.0, -4.5, 2.0)


# -- the trainer -----------------------------------------------------------------------


def _train_losses(run_dir) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"]


@pytest.mark.parametrize("family", ["transformer", "luong"])
def test_trainer_trains_with_muon_and_the_loss_falls(tmp_path, family):
    run = tmp_path / "run"
    overrides = ["optim.name=muon", "optim.lr=0.02", "optim.fallback_lr=0.01"]
    overrides += ["train.max_steps=20", "train.valid_every=20", "train.checkpoint_every=20"]
    overrides += ["train.bleu_sentences=0"]
    trainer = build_trainer(str(run), overrides, family=family)
    assert isinstance(trainer.optimizer, MuonWithFallback)
    placed = [id(p) for group in trainer.optimizer.param_groups for p in group["params"]]
    assert sorted(placed) == sorted(id(p) for p in trainer.model.parameters())
    before = copy.deepcopy(trainer.model.state_dict())
    trainer.fit()
    losses = _train_losses(run)
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.15, losses
    moved = [not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items()]
    assert all(moved)


def test_trainer_refuses_a_model_without_a_declared_output_layer(tmp_path):
    with pytest.raises(UserError, match="output_projection"):
        build_trainer(str(tmp_path / "run"), ["optim.name=muon"], family="toy")
