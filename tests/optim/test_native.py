"""The native CPU kernels (native.cpp): what the parity tests' small model
does not reach.

The parity tests run every flag through the native path on SmallNet, whose
tensors are small and contiguous. Here: a group whose elements span many
threads' shares and tensor boundaries, rows the kernels must hand back to
the recipe (non-contiguous, one and zero elements), and a failed build.
"""

from __future__ import annotations

import functools

import pytest
import torch

import mlnotebook.optim as ours
from mlnotebook import native as _native
from mlnotebook.optim import _recipe
from tests.optim.test_conventions import RICH, case_id

# Sizes chosen so that the joint element range (116,392 elements, over
# native.cpp's grain of 32768) splits between 2 or 3 threads at borders that
# fall inside tensors (58,196; or 38,798 and 77,596), with empty and one-element
# tensors among them.
SIZES = [(300, 97), (1,), (0,), (4099,), (129, 257), (7,), (2, 3, 5), (50_001,), (1,)]


def _params(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype)) for s in SIZES]


def _run(optimizer: torch.optim.Optimizer, params: list, steps: int, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator, dtype=param.dtype)
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_many_tensors_across_thread_shares_match_torch_and_any_thread_count(case, dtype):
    name, kwargs = case
    rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (1e-10, 1e-10)
    theirs_params = _params(dtype)
    theirs = getattr(torch.optim, name)(theirs_params, **kwargs)
    _run(theirs, theirs_params, 10)
    results = []
    threads = torch.get_num_threads()
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            params = _params(dtype)
            _run(getattr(ours, name)(params, **kwargs, foreach=True), params, 10)
            results.append(params)
    finally:
        torch.set_num_threads(threads)
    for mine, theirs_param in zip(results[0], theirs_params, strict=True):
        torch.testing.assert_close(mine, theirs_param, rtol=rtol, atol=atol)
    # Element-wise updates: how the range is split must not change a single bit.
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("case", RICH, ids=[case_id(c) for c in RICH])
def test_rows_the_kernels_cannot_take_are_updated_by_the_recipe(case, monkeypatch):
    # A transposed (non-contiguous) parameter, and a non-contiguous gradient of
    # a contiguous one, go back to Python; the rest still run natively.
    name, kwargs = case
    calls = []
    recipe = getattr(ours, name).recipe

    @functools.wraps(recipe)  # the native kernel is looked up by the recipe's name
    def counted(*args, **kwargs):
        calls.append(1)
        recipe(*args, **kwargs)

    monkeypatch.setattr(getattr(ours, name), "recipe", staticmethod(counted))

    def make() -> list[torch.nn.Parameter]:
        generator = torch.Generator().manual_seed(0)
        base = torch.randn(6, 4, generator=generator, dtype=torch.float64)
        return [
            torch.nn.Parameter(base.t()),  # non-contiguous
            torch.nn.Parameter(torch.randn(5, 3, generator=generator, dtype=torch.float64)),
            torch.nn.Parameter(torch.randn(8, generator=generator, dtype=torch.float64)),
        ]

    mine, twins = make(), make()
    assert not mine[0].is_contiguous()
    opt = getattr(ours, name)(mine, **kwargs, foreach=True)
    ref = getattr(torch.optim, name)(twins, **kwargs)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in mine]
        grads[1] = torch.randn(3, 5, generator=generator, dtype=torch.float64).t()
        for p, q, g in zip(mine, twins, grads, strict=True):
            p.grad, q.grad = g, g.clone()
        opt.step()
        ref.step()
    for p, q in zip(mine, twins, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10)
    assert len(calls) == 2 * 5  # two rows handed back per step, the third native


def test_native_path_is_what_runs_on_the_cpu(monkeypatch):
    # Guards the benchmarks' premise: with NATIVE on, no compiled kernel runs.
    def no_compiled_kernel(*args, **kwargs):
        raise AssertionError("the compiled path ran")

    monkeypatch.setattr(_recipe, "_run_kernel", no_compiled_kernel)
    params = _params(torch.float32)
    _run(ours.Adam(params, fused=True), params, 2)


def test_a_failed_build_is_one_clear_error(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "SOURCES", (broken,))
    monkeypatch.setattr(_native, "NAME", "mlnotebook_broken_test")
    with pytest.raises(_native.NativeBuildError) as raised:
        _native.extension.__wrapped__()
    # an empty cache: the user is told that a compilation is under way
    assert "compiling the native CPU kernels" in capsys.readouterr().err
    message = str(raised.value)
    assert "\n" not in message
    assert "broken.cpp:1:1: error:" in message


def test_a_fused_optimiser_says_what_to_do_when_the_build_fails(monkeypatch):
    def failed_build():
        raise _native.NativeBuildError("could not build the native CPU kernels (no compiler)")

    monkeypatch.setattr(_native, "extension", failed_build)
    params = _params(torch.float32)
    with pytest.raises(_native.NativeBuildError, match=r"no compiler.*fused=False instead"):
        _run(ours.Adam(params, fused=True), params, 1)


def test_a_cached_build_loads_without_a_message(capsys):
    _native.extension.__wrapped__()  # built already by the tests above, or now
    capsys.readouterr()
    _native.extension.__wrapped__()
    assert capsys.readouterr().err == ""
