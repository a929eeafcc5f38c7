"""torch.optim's conventions, which a drop-in optimiser must honour."""

from __future__ import annotations

import copy
import io

import pytest
import torch

import mlnotebook.optim as ours
from mlnotebook.optim import _recipe
from tests.optim.conftest import CASES, case_id, make_net, train_steps

# One case per optimiser class with its richest state.
RICH = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr_decay": 0.01}),
    ("Adadelta", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
]


def _params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_state_dict_resume_equals_uninterrupted_run(case):
    name, kwargs = case
    dtype = torch.float32
    straight = make_net(dtype)
    straight_opt = getattr(ours, name)(straight.parameters(), **kwargs)
    train_steps(straight, straight_opt, 10, dtype, seed=1)
    train_steps(straight, straight_opt, 10, dtype, seed=2)

    first = make_net(dtype)
    first_opt = getattr(ours, name)(first.parameters(), **kwargs)
    train_steps(first, first_opt, 10, dtype, seed=1)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optim": first_opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed = make_net(dtype, seed=123)
    resumed.load_state_dict(saved["model"])
    resumed_opt = getattr(ours, name)(resumed.parameters(), **kwargs)
    resumed_opt.load_state_dict(saved["optim"])
    train_steps(resumed, resumed_opt, 10, dtype, seed=2)
    assert _params_equal(straight, resumed)


@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_loads_torch_state_dict_and_continues_like_torch(case):
    name, kwargs = case
    dtype = torch.float64
    theirs, mine = make_net(dtype), make_net(dtype)
    their_opt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    train_steps(theirs, their_opt, 5, dtype, seed=1)
    mine.load_state_dict(theirs.state_dict())
    my_opt = getattr(ours, name)(mine.parameters(), **kwargs)
    # deepcopy: a state_dict shares its tensors with the live optimiser
    my_opt.load_state_dict(copy.deepcopy(their_opt.state_dict()))
    train_steps(theirs, their_opt, 5, dtype, seed=2)
    train_steps(mine, my_opt, 5, dtype, seed=2)
    for a, b in zip(theirs.parameters(), mine.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_tiny_lr_group_does_not_move(case):
    name, kwargs = case
    net = make_net(torch.float32)
    groups = [
        {"params": net.inp.parameters(), "lr": 1e-28},
        {"params": list(net.out.parameters()) + list(net.side.parameters())},
    ]
    opt = getattr(ours, name)(groups, **kwargs)
    before_inp = [p.detach().clone() for p in net.inp.parameters()]
    before_out = [p.detach().clone() for p in net.out.parameters()]
    train_steps(net, opt, 5, torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(before_inp, net.inp.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(before_out, net.out.parameters(), strict=True))


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"])
def test_none_grad_is_skipped_and_grad_untouched(name):
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(3))
    opt = getattr(ours, name)([a, b], lr=0.1)
    grad = torch.full((3,), 0.5)
    a.grad = grad.clone()
    opt.step()
    assert torch.equal(b, torch.ones(3))  # b.grad is None: skipped
    assert b not in opt.state or name == "Adagrad"  # Adagrad, like torch, makes state up front
    assert torch.equal(a.grad, grad)  # .grad is never modified
    assert not torch.equal(a, torch.ones(3))


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"])
def test_closure_is_evaluated_with_grad_and_its_loss_returned(name):
    weight = torch.nn.Parameter(torch.tensor([2.0]))
    opt = getattr(ours, name)([weight], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (weight**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(4.0)
    assert weight.item() < 2.0


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"])
def test_loss_falls_and_maximize_makes_it_rise(name):
    for maximize in (False, True):
        torch.manual_seed(0)
        weight = torch.nn.Parameter(torch.randn(10, 5))
        x = torch.randn(20, 5)
        lr = 1.0 if name == "Adadelta" else 0.01
        opt = getattr(ours, name)([weight], lr=lr, maximize=maximize)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = (x @ weight.T).pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert (losses[-1] > losses[0]) == maximize


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
def test_works_with_torch_lr_scheduler(fast):
    kwargs = {"fused": True} if fast else {}
    nets = [make_net(torch.float32) for _ in range(2)]
    opts = [
        torch.optim.Adam(nets[0].parameters(), lr=0.01),
        ours.Adam(nets[1].parameters(), lr=0.01, **kwargs),
    ]
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in opts]
    for _ in range(4):
        for net, opt, scheduler in zip(nets, opts, schedulers, strict=True):
            train_steps(net, opt, 3, torch.float32)
            scheduler.step()
    assert opts[1].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**4)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_fast_path_follows_hyper_parameter_changes_mid_run():
    # A compiled graph must not keep an old beta or lr: change both mid-run.
    nets = [make_net(torch.float64) for _ in range(2)]
    opts = [torch.optim.Adam(nets[0].parameters()), ours.Adam(nets[1].parameters(), fused=True)]
    for betas, lr in [((0.9, 0.999), 1e-3), ((0.5, 0.9), 5e-3)]:
        for net, opt in zip(nets, opts, strict=True):
            opt.param_groups[0]["betas"] = betas
            opt.param_groups[0]["lr"] = lr
            train_steps(net, opt, 4, torch.float64)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("native", [True, False], ids=["native", "compiled"])
@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_fast_path_follows_new_memory_mid_run(case, native, monkeypatch):
    # New memory behind the parameters and state (param.data replaced, a
    # state_dict loaded into the same optimiser, state tensors replaced or
    # moved, gradients kept by zero_grad(set_to_none=False)) must be what the
    # fast update writes: the compiled path keeps flat views between steps.
    monkeypatch.setattr(_recipe, "NATIVE", native)
    name, kwargs = case
    nets = [make_net(torch.float64) for _ in range(2)]
    opts = [
        getattr(ours, name)(nets[0].parameters(), **kwargs),
        getattr(ours, name)(nets[1].parameters(), **kwargs, foreach=True),
    ]
    for net, opt in zip(nets, opts, strict=True):
        train_steps(net, opt, 3, torch.float64)
        for param in net.parameters():
            param.data = param.data * 0.5
        train_steps(net, opt, 2, torch.float64, seed=5)
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        train_steps(net, opt, 3, torch.float64, seed=2)
        # New values, so that an update into the old tensors would show.
        for state in opt.state.values():  # a new tensor in the same state dict
            for key, value in state.items():
                if value.dim() > 0:
                    state[key] = value * 0.5
        train_steps(net, opt, 2, torch.float64, seed=3)
        for state in opt.state.values():  # the same tensor over new memory
            for value in state.values():
                if value.dim() > 0:
                    value.data = value.data * 0.5
        train_steps(net, opt, 2, torch.float64, seed=4)
        for step in range(3):
            opt.zero_grad(set_to_none=False)
            sum(p.sum() * (step + 1) for p in net.parameters()).backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_fast_path_bypasses_dynamo_after_the_first_call(case, monkeypatch):
    # The first step compiles through torch.compile; later ones must call the
    # captured graph directly (dynamo's call path is the cost this avoids),
    # and still move the parameters as the reference path does.
    monkeypatch.setattr(_recipe, "NATIVE", False)
    name, kwargs = case
    nets = [make_net(torch.float64) for _ in range(2)]
    reference = getattr(ours, name)(nets[0].parameters(), **kwargs)
    fast = getattr(ours, name)(nets[1].parameters(), **kwargs, foreach=True)
    train_steps(nets[0], reference, 2, torch.float64)
    train_steps(nets[1], fast, 2, torch.float64)

    def through_dynamo():
        raise AssertionError("a captured kernel went through dynamo again")

    monkeypatch.setattr(_recipe, "_compile_settings", through_dynamo)
    train_steps(nets[0], reference, 5, torch.float64, seed=3)
    train_steps(nets[1], fast, 5, torch.float64, seed=3)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_fast_path_step_under_torch_compile_matches_torch(name):
    # A user may torch.compile the step itself; the fast path then runs outside
    # the traced graph (torch.compiler.disable) and must give the same numbers.
    kwargs = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    nets = [make_net(torch.float64) for _ in range(2)]
    theirs = getattr(torch.optim, name)(nets[0].parameters(), **kwargs)
    ours_opt = getattr(ours, name)(nets[1].parameters(), **kwargs, foreach=True)
    ours_opt.step = torch.compile(ours_opt.step)
    train_steps(nets[0], theirs, 4, torch.float64)
    train_steps(nets[1], ours_opt, 4, torch.float64)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("SGD", {"lr": -1.0}, "Invalid learning rate: -1.0"),
        ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ("SGD", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
        ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum"),
        ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value: -1"),
        ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value"),
        ("Adagrad", {"eps": -1}, "Invalid epsilon value: -1"),
        ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
        ("RMSprop", {"alpha": -0.1}, "Invalid alpha value: -0.1"),
        ("RMSprop", {"momentum": -1}, "Invalid momentum value: -1"),
        ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ("AdamW", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        ("Adam", {"differentiable": True}, "differentiable=True is not supported"),
    ],
)
def test_invalid_hyper_parameters_raise_value_error_naming_them(name, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        getattr(ours, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)


def test_bare_tensor_params_is_a_type_error_and_duplicates_a_value_error():
    param = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(TypeError):
        ours.Adam(param)
    with pytest.raises(ValueError):
        ours.Adam([{"params": [param]}, {"params": [param]}])


def test_adamw_decay_is_multiplicative_and_not_divided_by_second_moment():
    # With a zero gradient the Adam step is 0, so only the decay acts:
    # theta <- theta * (1 - lr * lambda), exactly.
    param = torch.nn.Parameter(torch.full((4,), 3.0, dtype=torch.float64))
    opt = ours.AdamW([param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros_like(param)
    opt.step()
    torch.testing.assert_close(
        param.detach(), torch.full((4,), 3.0 * (1 - 0.05), dtype=torch.float64)
    )


def test_mixed_dtypes_in_one_group_match_torch():
    for fast in (False, True):
        params = [
            torch.nn.Parameter(torch.randn(5, dtype=dt)) for dt in (torch.float32, torch.float64)
        ]
        twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
        kwargs = {"fused": True} if fast else {}
        mine = ours.Adam(params, lr=0.1, weight_decay=0.1, **kwargs)
        theirs = torch.optim.Adam(twins, lr=0.1, weight_decay=0.1)
        for _ in range(5):
            for p, q in zip(params, twins, strict=True):
                grad = torch.randn_like(p)
                p.grad, q.grad = grad, grad.clone()
            mine.step()
            theirs.step()
        for p, q in zip(params, twins, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_every_case_is_constructible_from_torch_defaults():
    # Guards the CASES table itself: each kwargs set is valid for torch too.
    for name, kwargs in CASES:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)
