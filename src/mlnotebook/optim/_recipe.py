"""The machinery every optimiser in this package shares.

An optimiser here is a *recipe*: one function that updates a single tensor
(parameter, gradient and its state tensors) in place, written the way the
paper writes it. `RecipeOptimizer` handles everything torch's optimisers
have in common (lazy state, skipping parameters whose grad is None, the
closure, param groups) and runs the recipe along one of two paths:

* the **reference path** calls the recipe eagerly, once per parameter: each
  line is a separate pass over memory, so it is easy to read and slow;
* the **fast path** (`fused=True` or `foreach=True`) updates all of a
  group's tensors in one pass over memory. On the CPU in float32/float64 it
  calls native.cpp, where each recipe is written once more as a C++ loop
  body and one native call updates every tensor of the group (one fork/join
  per step, however many tensors). Elsewhere (another device, half
  precision) it hands the same recipe, applied to a fixed-size chunk of
  flattened tensors, to `torch.compile`; inductor fuses every line into one
  loop over memory.

The reference and compiled paths run the same Python function, the native
path its transcription; tests/optim check all three equal to each other and
to `torch.optim`. Why native on the CPU: the compiled path paid some 30 us
per compiled call and an OpenMP region per tensor, and ran 1.1-1.5x slower
than torch's fused kernels on a 185-tensor model (README, "Performance").

Per tensor, the compiled path does little Python: a flat view of each tensor,
and one compiled call per CHUNK parameters. That call skips dynamo after the
first one (see `_Kernel`): dynamo's checks on every call cost more than
updating a 100k-element tensor.

On the reference and native paths hyper-parameters are Python floats, as in
torch. On the compiled path every float becomes a 0-d tensor (a graph input): a
learning-rate schedule or a new beta never recompiles (and never reuses a
graph specialised to an old value). Structural flags (`amsgrad`,
`nesterov`, ...) stay Python bools and select one compiled graph each.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from types import ModuleType
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from mlnotebook import native as _native

# Whether the fast path uses the native kernels (native.cpp) where they exist:
# CPU, float32 and float64. Elsewhere (another device, half precision) it uses
# the compiled recipes. Tests switch it off to check the compiled path too.
NATIVE = True

# Tensors per compiled call. Each call costs some 30 us besides its loops;
# measured on a 13M-parameter Transformer (185 tensors), 16 or 32 per call
# were no faster than 8, and a bigger chunk compiles more slowly.
CHUNK = 8

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


# What inductor is told. Floating-point contraction lets the C++ compiler emit
# fused multiply-adds, as torch's own kernels do for `add_(x, alpha=a)`: the
# rounding then matches theirs. dynamic_threads: inductor otherwise decides at
# compile time whether a loop runs on all cores, from the size the first call
# happened to have, so a row first seen small (a padding row, a bias) stayed on
# one core at every size (measured: 33 ms against 25 ms for SGD on 48M
# elements, 2 threads). With it, every loop is an OpenMP region and the
# runtime splits the work.
_INDUCTOR_OPTIONS = {
    "cpp.enable_floating_point_contract_flag": "fast",
    "cpp.dynamic_threads": True,
    "size_asserts": False,
}

# Where each input of a captured graph comes from: dynamo names them after the
# Python expression it read, e.g. L['rows'][3][1], L['rows'][3][1].size()[0]
# (a symbolic size) or L['hyper']['lr'].
_SOURCE = re.compile(r"L\['rows'\]\[(\d+)\]\[(\d+)\](\.size\(\)\[0\])?$|L\['hyper'\]\['(\w+)'\]$")


class _Kernel:
    """One recipe applied to a chunk of CHUNK rows, compiled once and then called
    without dynamo.

    The first call goes through `torch.compile` (dynamic sizes: one graph for
    every tensor size), whose backend keeps the compiled graph and where each
    of its inputs comes from. Later calls pick those inputs out of the rows and
    call the graph directly. Dynamo's own call path (frame hooks, guards on
    some 30 tensors) cost about 130 us per call, more than updating a
    100k-element tensor, and its guards check what the caller already fixes:
    one `_kernel` per recipe, dtype, device, hyper-parameter names and flags;
    rows of 1-D contiguous tensors of equal length, in distinct memory.
    """

    def __init__(self, recipe: Recipe) -> None:
        self.graph: Callable[..., Any] | None = None
        self.take: Callable[[list[Any]], tuple[Any, ...]] | None = None
        self.layout: tuple[int, list[str]] = (0, [])  # row width, hyper-parameter names
        self.through_dynamo = torch.compile(
            _chunk_of(recipe), dynamic=True, fullgraph=True, backend=self._capture
        )

    def _capture(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        # Imported here: importing Inductor takes ~4 s, which every `mlnb translate`
        # (that never compiles an optimiser) would otherwise pay at start-up.
        from torch._inductor.compile_fx import compile_fx

        graph = compile_fx(gm, example_inputs, config_patches=_INDUCTOR_OPTIONS)
        # Positions in `inputs` (see __call__): the rows' tensors row after row, then one
        # length per row, then the hyper-parameters.
        width, names = self.layout
        tensors = CHUNK * width
        positions = []
        for node in gm.graph.find_nodes(op="placeholder"):
            match = _SOURCE.match(node.meta["grapharg"].source.name)
            if match is None:  # pragma: no cover - a torch whose dynamo names inputs otherwise
                return graph  # then every call goes through dynamo: slower, still right
            row, role, size, name = match.groups()
            if name is not None:
                positions.append(tensors + CHUNK + names.index(name))
            elif size is not None:
                positions.append(tensors + int(row))  # every tensor of a row has its length
            else:
                positions.append(int(row) * width + int(role))
        self.graph, self.take = graph, _take(positions)
        return graph

    def __call__(self, rows: list[list[Tensor]], hyper: dict[str, Any]) -> None:
        if self.graph is None:
            self.layout = (len(rows[0]), list(hyper))
            # Aliases without a view base, so that dynamo lifts no base tensors.
            rows = [[_flat_alias(t) for t in row] for row in rows]
            with _compile_settings():
                self.through_dynamo(rows, hyper)
            return
        inputs = [t for row in rows for t in row]
        inputs += [row[0].shape[0] for row in rows]
        inputs += hyper.values()
        self.graph(*self.take(inputs))


def _take(positions: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    getter = operator.itemgetter(*positions)
    return getter if len(positions) > 1 else lambda inputs: (getter(inputs),)


@contextlib.contextmanager
def _compile_settings() -> Iterator[None]:
    # Duck sizing off: tensors of equal size in a chunk must not add equality
    # guards (every new pattern of sizes would recompile). And every recipe's
    # chunk shares one code object, on which dynamo counts graphs: allow one
    # per (recipe, flags, dtype). Plain attribute swaps, because
    # config.patch() costs milliseconds per call.
    shape_config, dynamo_config = torch.fx.experimental._config, torch._dynamo.config
    saved = shape_config.use_duck_shape, dynamo_config.recompile_limit
    shape_config.use_duck_shape = False
    dynamo_config.recompile_limit = max(saved[1], _GRAPH_LIMIT)
    try:
        yield
    finally:
        shape_config.use_duck_shape, dynamo_config.recompile_limit = saved


@functools.cache
def _kernel(recipe: Recipe, signature: Hashable) -> _Kernel:
    """The compiled chunk update for one recipe and `signature`: chunk size,
    row width, dtype, device, the hyper-parameters' names and the values of
    the structural (non-tensor) ones: everything dynamo's guards would check."""
    return _Kernel(recipe)


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

    # A caller's torch.compile (of `step`, say) runs this eagerly instead of
    # tracing it: its compiled calls are compiled already, and cannot be traced.
    @torch.compiler.disable
    def _fast_update(self, group: dict[str, Any], work: list) -> None:
        # Rows that share dtype, device and coefficients (they differ only
        # when some parameters skipped steps) run in one call: one native call
        # on the CPU, else one compiled call per CHUNK rows.
        tags = self._advance([state for _, _, state in work])
        coefficients: dict[Hashable, dict[str, Any]] = {}
        buckets: dict[tuple, list[list[Tensor]]] = defaultdict(list)
        views = self.__dict__.setdefault("_flat_views", {})
        names = self._state_names(group)

        def row_of(param: Tensor, grad: Tensor, state: dict[str, Any]) -> list[Tensor]:
            return [param, grad, *(state[name] for name in names)]

        for (param, grad, state), tag in zip(work, tags, strict=True):
            if tag not in coefficients:
                coefficients[tag] = self._coefficients(group, tag)
            if NATIVE and param.is_cpu and param.dtype in _native.DTYPES:
                buckets[(True, param.dtype, param.device, tag)].append(row_of(param, grad, state))
                continue
            row = _flat_row(views, param, grad, state, names)
            if row is None:
                # Non-contiguous memory, or 0/1-element tensors, which would
                # specialise the compiled graph. Rare: run the recipe eagerly.
                type(self).recipe(*row_of(param, grad, state), **coefficients[tag])
                continue
            buckets[(False, param.dtype, param.device, tag)].append(row)
        scalars = self.__dict__.setdefault("_scalars", {})
        for (native, dtype, device, tag), rows in buckets.items():
            if native:
                # columns[role][row]: params, grads, then each state tensor. It
                # updates every row of contiguous tensors and returns the others.
                update = getattr(_native_kernels(), type(self).recipe.__name__)
                skipped = update(
                    [list(column) for column in zip(*rows, strict=True)],
                    **coefficients[tag],
                )
                for index in skipped:
                    type(self).recipe(*rows[index], **coefficients[tag])
                continue
            hyper = _as_graph_inputs(coefficients[tag], dtype, scalars)
            flags = ((k, v) for k, v in hyper.items() if not isinstance(v, Tensor))
            width = len(rows[0])  # param, grad and the state tensors (amsgrad adds one)
            kernel = _kernel(type(self).recipe, (CHUNK, width, dtype, device, *hyper, *flags))
            for start in range(0, len(rows), CHUNK):
                _run_kernel(kernel, _pad(rows[start : start + CHUNK], dtype, device), hyper)


def advance_steps(states: list[dict[str, Any]], values: bool) -> list[Hashable]:
    """step <- step + 1 for every state (torch's float32 0-d counters), in one call;
    the new step numbers if `values`, else None for each."""
    steps = [state["step"] for state in states]
    if not steps:
        return []
    torch._foreach_add_(steps, 1.0)
    return torch.stack(steps).tolist() if values else [None] * len(steps)


def _flat_row(
    views: dict[int, tuple], param: Tensor, grad: Tensor, state: dict, names: tuple[str, ...]
) -> list[Tensor] | None:
    """[param, grad, *state tensors] as 1-D views, or None where one cannot be
    flattened (non-contiguous) or the parameter has fewer than 2 elements.

    A view costs more than a microsecond, and a step needs one per tensor, so
    the views of a parameter and its state are kept in `views` from step to
    step, with the addresses they were made from (the gradient is a new tensor
    at every backward). Whatever gives a tensor new memory (`param.data = ...`,
    `module.to(...)`, load_state_dict, a state tensor replaced) changes its
    address, and the views are made again. Until then the kept views hold the
    old memory: a state dropped by hand (`opt.state.clear()`) is freed at the
    parameter's next step."""
    sources = [param, *(state[name] for name in names)]
    pointers = [t.data_ptr() for t in sources]
    kept = views.get(id(param))  # by id: hashing a tensor runs Python code
    if kept is None or kept[0] != pointers:
        if param.numel() < 2 or not all(t.is_contiguous() for t in sources):
            return None
        kept = views[id(param)] = (pointers, [t.view(-1) for t in sources])
    if not grad.is_contiguous():
        return None
    flat = kept[1]
    return [flat[0], grad if grad.dim() == 1 else grad.view(-1), *flat[1:]]


def _flat_alias(tensor: Tensor) -> Tensor:
    """A 1-D tensor over the same memory as a contiguous `tensor`.

    Used for the call that goes through dynamo: for a `view(-1)`, dynamo would
    also take the view's base as a graph input. A fresh tensor set onto the
    same storage is an alias without a base."""
    flat = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
    return flat.set_(tensor.untyped_storage(), tensor.storage_offset(), (tensor.numel(),), (1,))


def _as_graph_inputs(hyper: dict[str, Any], dtype: torch.dtype, kept: dict) -> dict[str, Any]:
    # In the parameters' dtype, as torch casts a Python scalar for its float
    # kernels; derived coefficients (1 - beta2, ...) were computed in Python
    # doubles by `_hyper`, so nothing is rounded twice. (float64 scalars in a
    # float32 kernel cost per-element conversions: measured 1.5x slower.)
    return {
        name: _scalar(kept, name, value, dtype) if isinstance(value, float) else value
        for name, value in hyper.items()
    }


def _scalar(kept: dict, name: str, value: float, dtype: torch.dtype) -> Tensor:
    """`value` as a 0-d tensor, made once per name and value: torch.tensor costs
    some 10 us, and most coefficients stay the same from step to step. One
    tensor per name, never shared between names: dynamo would merge inputs
    that are the same tensor into one, and the compiled call would then read
    one coefficient for both (see `_Kernel`)."""
    key = (name, dtype)
    old = kept.get(key)
    if old is None or old[0] != value:
        old = kept[key] = (value, torch.tensor(value, dtype=dtype))
    return old[1]


def _native_kernels() -> ModuleType:
    try:
        return _native.extension()
    except _native.NativeBuildError as exc:
        raise _native.NativeBuildError(
            f"{exc}; construct the optimiser with fused=False instead"
        ) from exc


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
