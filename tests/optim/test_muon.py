"""Muon against torch.optim.Muon: same numbers, state, param groups and refusals.

Tolerances. torch runs Newton-Schulz in bfloat16 whatever the parameters'
dtype, and so do we, with the same operations in the same order; the results
are then equal to the last bit, and the tolerances below only leave room for
float rounding outside Newton-Schulz (the momentum average, weight decay):
rtol 1e-6 / atol 1e-7 in float32, 1e-12 in float64. Any change inside the
bfloat16 iteration (another order of operations, or float32 instead) moves
one bfloat16 ulp (2^-8 relative) of the update and shows as a difference of
about 1e-3 after the 20 steps here, far outside both.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from mlnotebook.optim import Muon
from mlnotebook.optim.muon import newton_schulz

TOLERANCE = {torch.float32: (1e-6, 1e-7), torch.float64: (1e-12, 1e-12)}
STEPS = 20
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])

# Every flag, alone and combined, with non-default values where there are some.
CASES: list[dict] = [
    {},
    {"nesterov": False},
    {"weight_decay": 0.0},
    {"adjust_lr_fn": "original"},
    {"adjust_lr_fn": "match_rms_adamw"},
    {"nesterov": False, "weight_decay": 0.0, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.05, "momentum": 0.8, "eps": 1e-5, "ns_steps": 3},
    {"ns_coefficients": (2.0, -1.5, 0.5), "nesterov": False, "adjust_lr_fn": "original"},
]


def _case_id(kwargs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


class MatrixNet(nn.Module):
    """Bias-free layers, so every parameter is a matrix: wide [6, 10], tall
    [12, 6], wide [3, 12], and a side branch [3, 10] used on 2 steps in 3 (its
    grad is None on the third, and its state starts late)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(10, 6, bias=False)
        self.mid = nn.Linear(6, 12, bias=False)
        self.out = nn.Linear(12, 3, bias=False)
        self.side = nn.Linear(10, 3, bias=False)

    def forward(self, x: torch.Tensor, use_side: bool) -> torch.Tensor:
        y = self.out(torch.tanh(self.mid(torch.tanh(self.inp(x)))))
        return y + self.side(x) if use_side else y


def make_net(dtype: torch.dtype) -> MatrixNet:
    torch.manual_seed(0)
    return MatrixNet().to(dtype)


def train(net: MatrixNet, optimizer, dtype: torch.dtype, steps: range | int, seed: int = 1) -> None:
    """Regression steps; step i's data depend only on (seed, i), so a run split
    in two at any step sees the same data as one straight run."""
    for step in range(steps) if isinstance(steps, int) else steps:
        generator = torch.Generator().manual_seed(seed * 1000 + step)
        x = torch.randn(32, 10, generator=generator, dtype=dtype)
        target = torch.randn(32, 3, generator=generator, dtype=dtype)
        optimizer.zero_grad()
        ((net(x, use_side=step % 3 != 1) - target) ** 2).mean().backward()
        optimizer.step()


def two_groups(net: MatrixNet, **second) -> list[dict]:
    return [
        {"params": [net.inp.weight, net.mid.weight]},
        {"params": [net.out.weight, net.side.weight], **second},
    ]


def assert_nets_close(candidate: nn.Module, reference: nn.Module, dtype: torch.dtype) -> None:
    rtol, atol = TOLERANCE[dtype]
    for (name, ref), ours in zip(reference.named_parameters(), candidate.parameters(), strict=True):
        torch.testing.assert_close(ours, ref, rtol=rtol, atol=atol, msg=name)


def assert_state_dicts_close(candidate: dict, reference: dict, dtype: torch.dtype) -> None:
    rtol, atol = TOLERANCE[dtype]
    assert candidate["param_groups"] == reference["param_groups"]
    assert candidate["state"].keys() == reference["state"].keys()
    for index, ref_state in reference["state"].items():
        assert candidate["state"][index].keys() == ref_state.keys() == {"momentum_buffer"}
        ours = candidate["state"][index]["momentum_buffer"]
        assert ours.dtype == ref_state["momentum_buffer"].dtype
        torch.testing.assert_close(ours, ref_state["momentum_buffer"], rtol=rtol, atol=atol)


# -- numbers -------------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch(kwargs, dtype):
    torch_net, our_net = make_net(dtype), make_net(dtype)
    torch_opt = torch.optim.Muon(torch_net.parameters(), **kwargs)
    our_opt = Muon(our_net.parameters(), **kwargs)
    train(torch_net, torch_opt, dtype, STEPS)
    train(our_net, our_opt, dtype, STEPS)
    assert_nets_close(our_net, torch_net, dtype)
    assert_state_dicts_close(our_opt.state_dict(), torch_opt.state_dict(), dtype)
    # and the run moved the weights: equal because both stepped, not because neither did
    assert not torch.allclose(our_net.inp.weight, make_net(dtype).inp.weight)


@DTYPES
def test_several_param_groups_match_torch(dtype):
    second = {"lr": 0.05, "nesterov": False, "weight_decay": 0.0, "adjust_lr_fn": "match_rms_adamw"}
    torch_net, our_net = make_net(dtype), make_net(dtype)
    torch_opt = torch.optim.Muon(two_groups(torch_net, **second), lr=0.01)
    our_opt = Muon(two_groups(our_net, **second), lr=0.01)
    train(torch_net, torch_opt, dtype, STEPS)
    train(our_net, our_opt, dtype, STEPS)
    assert_nets_close(our_net, torch_net, dtype)
    assert_state_dicts_close(our_opt.state_dict(), torch_opt.state_dict(), dtype)


def test_newton_schulz_is_torchs_for_wide_tall_and_bfloat16_input():
    generator = torch.Generator().manual_seed(3)
    for shape in [(5, 9), (9, 5), (7, 7)]:
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            matrix = torch.randn(shape, generator=generator).to(dtype)
            kept = matrix.clone()
            expected = torch.optim._muon._zeropower_via_newtonschulz(
                matrix.clone(), (3.4445, -4.7750, 2.0315), 5, 1e-7
            )
            ours = newton_schulz(matrix)
            assert ours.dtype == torch.bfloat16 and ours.shape == shape
            assert torch.equal(ours, expected), (shape, dtype)
            assert torch.equal(matrix, kept), "the input is left alone"


def test_newton_schulz_brings_singular_values_near_one():
    # A rectangular Gaussian matrix has singular values spread over [1, 3] (x const);
    # five steps bring them all into a band around 1.
    matrix = torch.randn(32, 128, generator=torch.Generator().manual_seed(0))
    before = torch.linalg.svdvals(matrix)
    after = torch.linalg.svdvals(newton_schulz(matrix).float())
    assert before.max() / before.min() > 2.5
    assert 0.6 < float(after.min()) and float(after.max()) < 1.25


def test_singular_vectors_are_kept():
    # For a diagonal matrix the iteration acts on each entry alone: the result
    # stays diagonal (up to bfloat16 rounding of zeros, which stay exact zeros).
    matrix = torch.diag(torch.tensor([4.0, 1.0, 0.25]))
    result = newton_schulz(matrix).float()
    assert torch.equal(result, torch.diag(torch.diagonal(result)))
    assert torch.all(torch.diagonal(result) > 0.5)


# -- state_dict ----------------------------------------------------------------


@DTYPES
def test_state_dict_round_trip_continues_identically(dtype):
    kwargs = {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw"}
    straight_net = make_net(dtype)
    straight = Muon(two_groups(straight_net, nesterov=False), **kwargs)
    train(straight_net, straight, dtype, 20)

    first_net = make_net(dtype)
    first = Muon(two_groups(first_net, nesterov=False), **kwargs)
    train(first_net, first, dtype, 10)
    resumed_net = make_net(dtype)
    resumed_net.load_state_dict(first_net.state_dict())
    resumed = Muon(two_groups(resumed_net), lr=0.5)  # other settings: the load replaces them
    resumed.load_state_dict(first.state_dict())
    assert resumed.param_groups[1]["nesterov"] is False and resumed.param_groups[0]["lr"] == 0.02
    train(resumed_net, resumed, dtype, range(10, 20))

    for ours, ref in zip(resumed_net.parameters(), straight_net.parameters(), strict=True):
        assert torch.equal(ours, ref)
    assert_state_dicts_close(resumed.state_dict(), straight.state_dict(), dtype)


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dict_loads_across_implementations(direction):
    dtype = torch.float64
    source_cls, target_cls = (torch.optim.Muon, Muon)
    if direction == "ours-to-torch":
        source_cls, target_cls = target_cls, source_cls
    straight_net = make_net(dtype)
    straight = torch.optim.Muon(straight_net.parameters(), lr=0.02, nesterov=False)
    train(straight_net, straight, dtype, 16)

    source_net = make_net(dtype)
    source = source_cls(source_net.parameters(), lr=0.02, nesterov=False)
    train(source_net, source, dtype, 8)
    target_net = make_net(dtype)
    target_net.load_state_dict(source_net.state_dict())
    target = target_cls(target_net.parameters())
    target.load_state_dict(source.state_dict())
    train(target_net, target, dtype, range(8, 16))

    assert_nets_close(target_net, straight_net, dtype)
    assert_state_dicts_close(target.state_dict(), straight.state_dict(), dtype)


# -- constructor and refusals -----------------------------------------------------


def test_constructor_signature_and_param_groups_match_torch():
    ours = inspect.signature(Muon)
    theirs = inspect.signature(torch.optim.Muon)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]
    net = make_net(torch.float32)
    for kwargs in CASES:
        mine = Muon(net.parameters(), **kwargs).state_dict()
        expected = torch.optim.Muon(net.parameters(), **kwargs).state_dict()
        assert mine == expected


def _message(call) -> tuple[type, str]:
    with pytest.raises(Exception) as caught:
        call()
    return caught.type, str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": torch.tensor([0.1, 0.2])},
        {"momentum": -0.5},
        {"weight_decay": -0.1},
        {"adjust_lr_fn": "rms"},
    ],
    ids=["lr", "tensor-lr", "momentum", "weight_decay", "adjust_lr_fn"],
)
def test_bad_arguments_are_refused_as_torch_refuses_them(kwargs):
    net = make_net(torch.float32)
    assert _message(lambda: Muon(net.parameters(), **kwargs)) == _message(
        lambda: torch.optim.Muon(net.parameters(), **kwargs)
    )


@pytest.mark.parametrize(
    "kwargs", [{"ns_steps": 100}, {"ns_coefficients": (3.0, -4.0)}], ids=["ns_steps", "coeffs"]
)
def test_bad_newton_schulz_settings_are_refused_when_built(kwargs):
    # torch refuses these at the first step; we refuse them at once, in its words
    net = make_net(torch.float32)
    theirs = torch.optim.Muon(net.parameters(), **kwargs)
    net(torch.zeros(1, 10), True).sum().backward()
    expected = _message(theirs.step)
    assert _message(lambda: Muon(net.parameters(), **kwargs)) == expected


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), ()], ids=["1d", "3d", "0d"])
def test_non_matrix_parameters_are_refused(shape):
    params = [nn.Parameter(torch.zeros(3, 3)), nn.Parameter(torch.zeros(shape))]
    expected = _message(lambda: torch.optim.Muon(params))
    assert expected[0] is ValueError and "2D" in expected[1]
    assert _message(lambda: Muon(params)) == expected
    # also when the parameter arrives later, which torch lets through
    optimizer = Muon(params[:1])
    assert _message(lambda: optimizer.add_param_group({"params": params[1:]})) == expected
    assert len(optimizer.param_groups) == 1


def test_sparse_gradients_are_refused():
    param = nn.Parameter(torch.zeros(3, 3))
    param.grad = torch.eye(3).to_sparse()
    with pytest.raises(RuntimeError, match="Muon does not support sparse gradients"):
        Muon([param]).step()
