"""The machinery every optimiser in this package shares.

An optimiser here is a *recipe*: one function that updates a single tensor
(parameter, gradient and its state tensors) in place, written the way the
paper writes it. `RecipeOptimizer` handles everything torch's optimisers
have in common (lazy state, skipping parameters whose grad is None, the
closure, param groups) and runs the recipe along one of two paths:

* the **reference path** calls the recipe eagerly, once per parameter: each
  line is a separate pass over memory, so it is easy to read and slow;
* the **fast path** (`fused=True` or `foreach=True`) hands the same recipe,
  applied to a fixed-size chunk of flattened tensors, to `torch.compile`.
  Inductor fuses every line into one loop over memory, which is what makes
  an optimiser step memory-bandwidth bound instead of op-count bound.

Both paths run the same Python function, and tests/optim check them equal
to each other and to `torch.optim`.

A compiled call costs tens of microseconds per tensor however little it
updates, so the fast path keeps its per-tensor work small: the flat aliases of each
parameter and its state are made once and kept (`_flat_row`), the
coefficients are computed once per step number, not per tensor, and the many
small tensors (biases, norm weights) are updated joined into one row
(`_pack_small`).

On the reference path hyper-parameters are Python floats, as in torch. On
the fast path every float becomes a 0-d tensor (a graph input): a
learning-rate schedule or a new beta never recompiles (and never reuses a
graph specialised to an old value). Structural flags (`amsgrad`,
`nesterov`, ...) stay Python bools and select one compiled graph each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

# Tensors per compiled call. The cost of a call grows with its tensors (about
# 50 us each, measured on one thread; step time was the same with 8, 16 or 32
# per call), so bigger chunks gain little and compile more slowly.
CHUNK = 8
# Tensors with fewer elements than this are updated concatenated (see _pack_small).
PACK_BELOW = 1 << 15

Recipe = Callable[..., None]
_GRAPH_LIMIT = 256


def _check_non_negative(name: str, value: float) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {name} value: {value}")


def check_lr(lr: float | Tensor) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= float(lr):
        raise ValueError(f"Invalid learning rate: {lr}")


def check_eps(eps: float) -> None:
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")


def check_weight_decay(weight_decay: float) -> None:
    _check_non_negative("weight_decay", weight_decay)


def check_unit_interval(name: str, value: float, index: int | None = None) -> None:
    """Coefficients of running averages live in [0, 1)."""
    if not 0.0 <= value < 1.0:
        where = f" at index {index}" if index is not None else ""
        raise ValueError(f"Invalid {name} parameter{where}: {value}")


def _chunk_of(recipe: Recipe) -> Callable[..., None]:
    """Apply `recipe` to each row of a chunk: rows[i] = [param, grad, *state]."""

    def chunk(rows: list[list[Tensor]], hyper: dict[str, Any]) -> None:
        for row in rows:
            recipe(*row, **hyper)

    chunk.__name__ = f"{recipe.__name__}_chunk"
    return chunk


@functools.cache
def _compiled(recipe: Recipe) -> Callable[..., None]:
    # dynamic=True: one graph serves every tensor size. Floating-point
    # contraction lets the C++ compiler emit fused multiply-adds, as torch's
    # own kernels do for `add_(x, alpha=a)`: the rounding then matches theirs.
    # dynamic_threads: inductor decides at compile time whether a loop runs on
    # all cores, from the size the first call happened to have; a row first
    # seen small (a padding row, a bias) then stays on one core at every size
    # (measured: 33 ms against 25 ms for SGD on 48M elements, 2 threads). With
    # it, every loop is an OpenMP region and the runtime splits the work.
    compiled = torch.compile(
        _chunk_of(recipe),
        dynamic=True,
        fullgraph=True,
        options={"cpp.enable_floating_point_contract_flag": "fast", "cpp.dynamic_threads": True},
    )

    def run(rows: list[list[Tensor]], hyper: dict[str, Any]) -> None:
        # Duck sizing off: tensors of equal size in a chunk must not add
        # equality guards (every new pattern of sizes would recompile). And
        # every recipe's chunk shares one code object, on which dynamo counts
        # graphs: allow one per (recipe, flags, dtype). Plain attribute swaps,
        # because config.patch() costs milliseconds per call.
        with _compile_settings():
            compiled(rows, hyper)

    return run


@contextlib.contextmanager
def _compile_settings() -> Iterator[None]:
    shape_config, dynamo_config = torch.fx.experimental._config, torch._dynamo.config
    saved = shape_config.use_duck_shape, dynamo_config.recompile_limit
    shape_config.use_duck_shape = False
    dynamo_config.recompile_limit = max(saved[1], _GRAPH_LIMIT)
    try:
        yield
    finally:
        shape_config.use_duck_shape, dynamo_config.recompile_limit = saved


class RecipeOptimizer(Optimizer):
    """A `torch.optim.Optimizer` whose update is one per-tensor recipe.

    Subclasses provide:
    * `recipe(param, grad, *state_tensors, **hyper)`: the update, in place;
    * `_state_names(group)`: which state tensors the recipe takes, in order;
    * `_init_state(param, group)`: the initial state dict (lazily created);
    * `_advance(states)`: advance the step counters of these parameters' states
      and return, per state, the `tag` the coefficients depend on (the step
      number, or None when they do not depend on it);
    * `_coefficients(group, tag)`: the recipe's keyword arguments (floats and
      bools), the same for every parameter of the group with this tag.
    """

    recipe: Recipe

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if defaults.get("differentiable"):
            raise ValueError("differentiable=True is not supported by mlnotebook.optim")
        if defaults.get("capturable"):
            raise ValueError("capturable=True is not supported by mlnotebook.optim")
        super().__init__(params, defaults)

    # -- what subclasses describe --------------------------------------------
    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError

    def _advance(self, states: list[dict[str, Any]]) -> list[Hashable]:
        raise NotImplementedError

    def _coefficients(self, group: dict[str, Any], tag: Hashable) -> dict[str, Any]:
        raise NotImplementedError

    # -- the shared step -----------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            work = list(self._params_with_grad(group))
            if group.get("fused") or group.get("foreach"):
                self._fast_update(group, work)
            else:
                for param, grad, state in work:
                    self._reference_update(group, param, grad, state)
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.pop("_flat_rows", None)  # the state tensors are new ones
        super().load_state_dict(state_dict)

    def _params_with_grad(self, group: dict[str, Any]):
        for param in group["params"]:
            if param.grad is None:
                continue
            if param.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state.get(param)
            if not state:
                # Lazy state, as torch: created at a parameter's first grad.
                # A stateless recipe (SGD without momentum) leaves no entry.
                state = self._init_state(param, group)
                if state:
                    self.state[param] = state
            yield param, param.grad, state

    def _state_tensors(self, group: dict[str, Any], state: dict[str, Any]) -> list[Tensor]:
        return [state[name] for name in self._state_names(group)]

    def _reference_update(
        self, group: dict[str, Any], param: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        hyper = self._coefficients(group, self._advance([state])[0])
        type(self).recipe(param, grad, *self._state_tensors(group, state), **hyper)

    def _fast_update(self, group: dict[str, Any], work: list) -> None:
        # Rows that share dtype, device and coefficients (they differ only
        # when some parameters skipped steps) run in one compiled call.
        tags = self._advance([state for _, _, state in work])
        coefficients: dict[Hashable, dict[str, Any]] = {}
        buckets: dict[tuple, list[list[Tensor]]] = defaultdict(list)
        for (param, grad, state), tag in zip(work, tags, strict=True):
            if tag not in coefficients:
                coefficients[tag] = self._coefficients(group, tag)
            states = self._state_tensors(group, state)
            row = self._flat_row(param, grad, states)
            if row is None:
                # Views of non-contiguous memory cannot be flattened; 0/1-element
                # tensors would specialise the compiled graph. Both are rare.
                type(self).recipe(param, grad, *states, **coefficients[tag])
                continue
            buckets[(param.dtype, param.device, tag)].append(row)
        for (dtype, device, tag), rows in buckets.items():
            kernel = _compiled(type(self).recipe)
            hyper = _as_graph_inputs(coefficients[tag], dtype)
            rows, unpack = _pack_small(rows)
            for start in range(0, len(rows), CHUNK):
                _run_kernel(kernel, _pad(rows[start : start + CHUNK], dtype, device), hyper)
            unpack()

    def _flat_row(self, param: Tensor, grad: Tensor, states: list[Tensor]) -> list[Tensor] | None:
        """[param, grad, *states] as 1-D aliases (see `_flat_alias`), or None if impossible.

        Making an alias costs microseconds, as much as updating a small tensor, so
        they are kept from step to step, checked by the address of their memory.
        A cached alias keeps its storage alive, so a tensor at the same address
        is the same memory. The gradient's alias is made afresh: autograd usually
        allocates a new gradient each step, and keeping the old one alive would
        cost a gradient's worth of memory.
        """
        cache: dict[int, _FlatRow] = self.__dict__.setdefault("_flat_rows", {})
        layout = (param.data_ptr(), param.numel(), param.is_contiguous())
        layout += tuple(t.data_ptr() for t in states)
        entry = cache.get(id(param))
        if entry is None or entry.layout != layout:
            tensors = [param, *states]
            if param.numel() < 2 or not all(t.is_contiguous() for t in tensors):
                cache.pop(id(param), None)
                return None
            entry = cache[id(param)] = _FlatRow(layout, [_flat_alias(t) for t in tensors])
        if not grad.is_contiguous():
            return None
        return [entry.aliases[0], _flat_alias(grad), *entry.aliases[1:]]


@dataclasses.dataclass
class _FlatRow:
    """Cached flat aliases of one parameter and its state tensors."""

    layout: tuple  # addresses, size, contiguity: the aliases are valid while these hold
    aliases: list[Tensor]  # [param, *states]


def advance_steps(states: list[dict[str, Any]], values: bool) -> list[Hashable]:
    """step <- step + 1 for every state (torch's float32 0-d counters), in one call;
    the new step numbers if `values`, else None for each."""
    steps = [state["step"] for state in states]
    if not steps:
        return []
    torch._foreach_add_(steps, 1.0)
    return torch.stack(steps).tolist() if values else [None] * len(steps)


def _pack_small(rows: list[list[Tensor]]) -> tuple[list[list[Tensor]], Callable[[], None]]:
    """Join the rows of small tensors into one row, and a function that copies the
    results back.

    A compiled call costs about 50 us per row (measured; dynamo's guards are only
    a small part of it), as much as updating 100k elements; biases and norm
    weights are far smaller. Updating
    them concatenated (one row) and copying the parameter and state back (one
    multi-tensor copy each) costs a few us per tensor instead. The update is
    elementwise, so where an element sits does not change its result.
    """
    small = [row for row in rows if row[0].numel() < PACK_BELOW]
    if len(small) < 2:
        return rows, lambda: None
    large = [row for row in rows if row[0].numel() >= PACK_BELOW]
    packed = [torch.cat(role) for role in zip(*small, strict=True)]  # [param, grad, *states]
    sizes = [row[0].numel() for row in small]

    def unpack() -> None:
        for role in (0, *range(2, len(packed))):  # the gradient is only read
            torch._foreach_copy_([row[role] for row in small], packed[role].split(sizes))

    return [*large, packed], unpack


def _flat_alias(tensor: Tensor) -> Tensor:
    """A 1-D tensor over the same memory as a contiguous `tensor`.

    Not `tensor.view(-1)`: dynamo guards on a view's base (its shape, and
    whether it requires grad), so views of 1-D and 2-D parameters would each
    need a graph of their own. A fresh tensor set onto the same storage is
    an alias without a base: the compiled update writes straight into it."""
    flat = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
    return flat.set_(tensor.untyped_storage(), tensor.storage_offset(), (tensor.numel(),), (1,))


def _as_graph_inputs(hyper: dict[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    # In the parameters' dtype, as torch casts a Python scalar for its float
    # kernels; derived coefficients (1 - beta2, ...) were computed in Python
    # doubles by `_hyper`, so nothing is rounded twice. (float64 scalars in a
    # float32 kernel cost per-element conversions: measured 1.5x slower.)
    return {
        name: torch.tensor(value, dtype=dtype) if isinstance(value, float) else value
        for name, value in hyper.items()
    }


def _run_kernel(kernel: Callable[..., None], rows: list[list[Tensor]], hyper: dict) -> None:
    try:
        kernel(rows, hyper)
    except torch._dynamo.exc.BackendCompilerFailed as exc:  # pragma: no cover - toolchain
        raise RuntimeError(
            "the fused optimiser path needs torch.compile with a working C++ compiler; "
            f"construct the optimiser with fused=False instead ({exc})"
        ) from exc


@functools.cache
def _scratch_rows(dtype: torch.dtype, device: torch.device, width: int) -> list[list[Tensor]]:
    # Two-element stand-ins that fill a short last chunk, so that every call
    # has exactly CHUNK rows and one compiled graph serves them all. They are
    # all distinct tensors (aliased inputs would change the graph), their
    # gradient is zero, so every recipe leaves them at zero.
    return [
        [torch.zeros(2, dtype=dtype, device=device) for _ in range(width)] for _ in range(CHUNK)
    ]


def _pad(rows: list[list[Tensor]], dtype: torch.dtype, device: torch.device) -> list[list[Tensor]]:
    missing = CHUNK - len(rows)
    return rows + _scratch_rows(dtype, device, len(rows[0]))[:missing]


def to_float(value: float | Tensor) -> float:
    """Hyper-parameters may be given as 1-element tensors, as in torch."""
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def new_step() -> Tensor:
    """torch keeps the step count as a float32 scalar tensor."""
    return torch.tensor(0.0, dtype=torch.float32)


# -- scaled updates ----------------------------------------------------------
# torch's optimisers write `p.add_(x, alpha=-lr)` and `p.addcdiv_(a, b,
# value=-lr)`: one fused multiply-add, one rounding. Eagerly, the recipes do
# the same, so the reference path matches torch to the last bit. Compiled,
# the hyper-parameters are 0-d tensors (see `_as_graph_inputs`), which those
# keyword arguments do not accept, so there the same maths is written as
# plain arithmetic.


def add_scaled(tensor: Tensor, scale: float, other: Tensor) -> Tensor:
    """tensor + scale * other (a new tensor)."""
    if torch.compiler.is_compiling():
        return tensor + scale * other
    return tensor.add(other, alpha=scale)


def add_scaled_(tensor: Tensor, scale: float, other: Tensor) -> Tensor:
    """tensor += scale * other (in place)."""
    if torch.compiler.is_compiling():
        return tensor.add_(scale * other)
    return tensor.add_(other, alpha=scale)


def addcmul_scaled_(tensor: Tensor, scale: float, first: Tensor, second: Tensor) -> Tensor:
    """tensor += scale * first * second (in place)."""
    if torch.compiler.is_compiling():
        return tensor.add_(scale * (first * second))
    return tensor.addcmul_(first, second, value=scale)


def lerp_(tensor: Tensor, end: Tensor, weight: float) -> Tensor:
    """tensor += weight * (end - tensor) (in place): an exponential average."""
    if torch.compiler.is_compiling():
        return tensor.add_(weight * (end - tensor))
    return tensor.lerp_(end, weight)


def divide_by(tensor: Tensor, divisor: float) -> Tensor:
    """tensor / divisor for a scalar divisor. Compiled, one reciprocal and a
    multiply per element: a division per element would make the fused loop
    compute-bound (the result differs from true division by at most 1 ulp)."""
    if torch.compiler.is_compiling():
        return tensor * divisor.reciprocal()
    return tensor / divisor


def addcdiv_scaled_(tensor: Tensor, scale: float, numerator: Tensor, denominator: Tensor) -> Tensor:
    """tensor += scale * numerator / denominator (in place)."""
    if torch.compiler.is_compiling():
        return tensor.add_(scale * (numerator / denominator))
    return tensor.addcdiv_(numerator, denominator, value=scale)
