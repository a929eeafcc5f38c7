"""The training configuration: typed sections, defaults in one place, checked on load.

A translation run is described by one YAML file with six sections (`data`,
`model`, `optim`, `schedule`, `train`, `search`). Each section is a dataclass
below; its fields carry the default, the allowed range and a one-line
description, so the defaults live here and nowhere else. Loading walks the
YAML against these dataclasses and stops at the first problem with a single
line a user can act on: which file and line, which key, what was expected.

Two sections are *open*: `model` names a model family and `optim` names an
optimiser, and their other keys are that class's constructor arguments. They
are checked against the constructor's signature (unknown argument, wrong type)
when the config is loaded, so a typo fails before any data is read.

Command-line overrides `a.b=value` are parsed as YAML scalars (so `3`, `0.1`,
`true`, `[0.9, 0.98]` keep their types) and go through the same checks.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlnotebook.errors import UserError


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, reading `3e-4`, `1e-3` and `.5` as numbers.

    PyYAML follows YAML 1.1, where a float needs a dot (`3.0e-4`) and `3e-4` is
    a string; YAML 1.2 and every user read it as a number.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)


def _option(default: Any, doc: str, **limits: Any) -> Any:
    """A dataclass field with its description and allowed range (min, max, choices)."""
    return field(default=default, metadata={"doc": doc, **limits})


@dataclass
class DataConfig:
    # A list is a [german_file, french_file] pair of line-aligned files.
    corpus: str | list[str] = field(
        default="default", metadata={"doc": "'default', a TSV file, a folder, or [de, fr] files"}
    )
    vocab_size: int = _option(8000, "sentencepiece vocabulary size (shared de+fr)", min=8)
    tokenizer: str | None = _option(None, "reuse this tokenizer model file instead of training")
    max_src_len: int = _option(128, "source subwords kept per sentence", min=1)
    max_tgt_len: int = _option(128, "target subwords kept per sentence", min=1)
    batch_tokens: int = _option(4096, "source+target tokens per global batch", min=1)


@dataclass
class ModelConfig:
    family: str = _option(
        "transformer", "seq2seq | luong | bahdanau | transformer | package.module:Class"
    )
    # The family's constructor arguments, checked against its signature.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = _option(
        "adam", "optimiser class in mlnotebook.optim (else torch.optim); muon takes optim.fallback"
    )
    # lr, betas, weight_decay, ...: checked against the optimiser's signature.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScheduleConfig:
    kind: str = _option(
        "none", "learning-rate schedule", choices=("none", "warmup", "plateau", "budget")
    )
    warmup_steps: int = _option(4000, "warmup, budget: steps of linear increase", min=0)
    decay: str = _option(
        "linear", "budget: shape of the decay to zero", choices=("linear", "cosine", "rex")
    )
    factor: float = _option(1.0, "warmup: scale on d_model^-0.5 min(...) (Noam)", min=0.0)
    d_model: int | None = _option(None, "warmup: model width; default from model params", min=1)
    plateau_factor: float = _option(0.5, "plateau: multiply lr by this", min=0.0, max=1.0)
    plateau_patience: int = _option(2, "plateau: validations without gain before a cut", min=0)
    min_lr: float = _option(0.0, "plateau: never cut below this", min=0.0)


@dataclass
class TrainConfig:
    out_dir: str = _option("runs/translate", "where checkpoints, logs and plots go")
    seed: int = _option(1234, "seed for init, dropout and data order", min=0)
    max_steps: int = _option(100000, "stop after this many optimiser steps", min=1)
    max_minutes: float = _option(0.0, "stop after this much training time (0 = no limit)", min=0.0)
    budget_clock: str = _option(
        "wall",
        "clock for max_minutes: wall, or cpu (this process's CPU time, fair when runs share cores)",
        choices=("wall", "cpu"),
    )
    label_smoothing: float = _option(
        0.1, "mass spread evenly over the vocabulary", min=0.0, max=1.0
    )
    teacher_forcing: float = _option(
        1.0, "probability of feeding the reference token (<1: scheduled sampling)", min=0.0, max=1.0
    )
    clip_grad_norm: float = _option(1.0, "clip the global gradient norm (0 = off)", min=0.0)
    ema_decay: float | None = _option(
        None,
        "keep an exponential moving average of the weights with this decay (null = off); "
        "validation and translation then use it",
        min=0.0,
        max=1.0,
    )
    keep_checkpoints: int = _option(
        0, "keep the weights of the last K checkpoints for `mlnb average` (0 = none)", min=0
    )
    valid_every: int = _option(1000, "validate (loss, ppl, BLEU) every this many steps", min=1)
    checkpoint_every: int = _option(1000, "write last.pt every this many steps", min=1)
    bleu_sentences: int = _option(200, "validation sentences decoded for BLEU (0 = off)", min=0)
    patience: int = _option(10, "stop after this many validations without gain (0 = off)", min=0)
    log_every: int = _option(50, "write a metrics line every this many steps", min=1)
    device: str = _option("auto", "auto | cpu | cuda | cuda:N")
    progress: bool = _option(True, "show a progress bar on the terminal")


@dataclass
class SearchConfig:
    beam: int = _option(5, "beam width (1 = greedy)", min=1)
    length_penalty: float = _option(0.6, "GNMT alpha in ((5+len)/6)^alpha", min=0.0)
    max_len_a: float = _option(1.5, "max output length = a * source length + b", min=0.0)
    max_len_b: int = _option(10, "max output length = a * source length + b", min=1)
    stopping: str = _option(
        "bound",
        "beam: stop a sentence when no alive beam can still win (bound) or when none wins now",
        choices=("bound", "current"),
    )


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    # Where the config came from, for error messages; not part of the run.
    source: str = field(default="<defaults>", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (open sections flattened back), as written to YAML."""
        out: dict[str, Any] = {}
        for section in _SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            extra = values.pop("params", None)
            out[section] = {**values, **(extra or {})}
        return out


_SECTIONS = ("data", "model", "optim", "schedule", "train", "search")
_OPEN_SECTIONS = {"model": "family", "optim": "name"}


# --------------------------------------------------------------------------- locations


class _Where:
    """Turns a key path into 'file:line' using the YAML node marks."""

    def __init__(
        self, source: str, text: str | None, overridden: set[tuple[str, ...]] | None = None
    ) -> None:
        self.source = source
        self.overridden = overridden or set()
        self.lines: dict[tuple[str, ...], int] = {}
        if text is not None:
            try:
                self._walk(yaml.compose(text), ())
            except yaml.YAMLError:
                pass

    def _walk(self, node: yaml.Node | None, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = (*path, str(key_node.value))
                self.lines[key_path] = key_node.start_mark.line + 1
                self._walk(value_node, key_path)

    def __call__(self, path: tuple[str, ...]) -> str:
        if path in self.overridden:
            return f"{self.source} (override {'.'.join(path)}=...)"
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.lines:
                return f"{self.source}:{self.lines[path[:cut]]}"
        return self.source


def _fail(where: _Where, path: tuple[str, ...], problem: str) -> UserError:
    return UserError(f"{where(path)}: {'.'.join(path)}: {problem}")


# --------------------------------------------------------------------------- type checks


def _describe(annotation: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true/false", str: "a string"}
    if annotation in names:
        return names[annotation]
    if isinstance(annotation, type):
        return f"a {annotation.__name__.lower()}"  # torch.Tensor -> "a tensor"
    return str(annotation).replace("typing.", "")


def _check_type(value: Any, annotation: Any) -> Any:
    """Return `value` coerced to `annotation`, or raise TypeError with the expected type."""
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(annotation):
            return None
        for option in typing.get_args(annotation):
            if option is type(None):
                continue
            try:
                return _check_type(value, option)
            except TypeError:
                continue
        raise TypeError(" or ".join(_describe(a) for a in typing.get_args(annotation)))
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError("a list")
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        kind = tuple if tuple in (origin, annotation) else list
        if args and len(set(args)) == 1:
            return kind(_check_type(v, args[0]) for v in value)
        return kind(value)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise TypeError("a mapping")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(_describe(bool))
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(_describe(int))
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError(_describe(float))
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError(_describe(str))
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise TypeError(_describe(annotation))
    return value


def _check_limits(value: Any, meta: dict[str, Any]) -> str | None:
    """None if `value` is inside the field's range, else what was expected."""
    if value is None:
        return None
    if "choices" in meta and value not in meta["choices"]:
        return f"expected one of {', '.join(meta['choices'])}"
    if "min" in meta and value < meta["min"]:
        return f"expected a value >= {meta['min']}"
    if "max" in meta and value > meta["max"]:
        return f"expected a value <= {meta['max']}"
    return None


# --------------------------------------------------------------------------- sections


def _build_section(
    cls: type, raw: Any, path: tuple[str, ...], where: _Where, open_key: str | None
) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(where, path, f"expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "params"}
    values: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key not in fields:
            if open_key is None:
                known = ", ".join(fields)
                raise _fail(where, (*path, key), f"unknown key (known: {known})")
            params[key] = value
            continue
        try:
            value = _check_type(value, hints[key])
        except TypeError as exc:
            raise _fail(where, (*path, key), f"expected {exc}, got {value!r}") from None
        problem = _check_limits(value, fields[key].metadata)
        if problem:
            raise _fail(where, (*path, key), f"{problem}, got {value!r}")
        values[key] = value
    if open_key is not None:
        values["params"] = params
    return cls(**values)


def check_constructor_params(
    target: Any, params: dict[str, Any], path: tuple[str, ...], where: _Where, skip: set[str]
) -> dict[str, Any]:
    """Check `params` against `target`'s signature: names exist, types match annotations."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return params
    accepted = {
        name: p
        for name, p in signature.parameters.items()
        if name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)
    except Exception:
        hints = {}
    checked = {}
    for key, value in params.items():
        if key not in accepted:
            if takes_kwargs:
                checked[key] = value
                continue
            known = ", ".join(accepted) or "none"
            raise _fail(
                where, (*path, key), f"unknown argument of {_name(target)} (known: {known})"
            )
        annotation = hints.get(key, accepted[key].annotation)
        if isinstance(annotation, str):  # unresolved forward reference: fall back to default
            default = accepted[key].default
            annotation = type(default) if default not in (None, inspect.Parameter.empty) else Any
        try:
            checked[key] = _check_type(value, annotation)
        except TypeError as exc:
            raise _fail(where, (*path, key), f"expected {exc}, got {value!r}") from None
    return checked


def _name(target: Any) -> str:
    return getattr(target, "__qualname__", repr(target))


# --------------------------------------------------------------------------- loading


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise UserError(f"override {text!r}: expected key.path=value")
    key, raw_value = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise UserError(f"override {text!r}: expected section.key=value, e.g. train.max_steps=10")
    try:
        value = _load_yaml(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        value = raw_value
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set `a.b=value` entries into the raw nested mapping (a copy)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for text in overrides:
        parts, value = _parse_override(text)
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {text!r}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def config_from_dict(
    raw: dict[str, Any] | None,
    source: str = "<dict>",
    text: str | None = None,
    overridden: set[tuple[str, ...]] | None = None,
) -> Config:
    """Build and validate a Config from a nested mapping (sections -> keys)."""
    where = _Where(source, text, overridden)
    raw = raw or {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of sections ({', '.join(_SECTIONS)})")
    for section in raw:
        if section not in _SECTIONS:
            raise _fail(where, (str(section),), f"unknown section (known: {', '.join(_SECTIONS)})")
    hints = typing.get_type_hints(Config)
    sections = {
        name: _build_section(hints[name], raw.get(name), (name,), where, _OPEN_SECTIONS.get(name))
        for name in _SECTIONS
    }
    config = Config(**sections, source=source)
    _check_open_sections(config, where)
    _check_consistency(config, where)
    return config


def _check_open_sections(config: Config, where: _Where) -> None:
    # Imported here: the resolvers import torch and the model modules.
    from mlnotebook.translate.model_registry import MODEL_BUILT_ARGS, resolve_model_class
    from mlnotebook.translate.optim_registry import resolve_optimizer_class

    try:
        model_cls = resolve_model_class(config.model.family)
    except UserError as exc:
        raise _fail(where, ("model", "family"), str(exc)) from None
    config.model.params = check_constructor_params(
        model_cls, config.model.params, ("model",), where, skip=MODEL_BUILT_ARGS | {"self"}
    )
    try:
        optim_cls = resolve_optimizer_class(config.optim.name)
    except UserError as exc:
        raise _fail(where, ("optim", "name"), str(exc)) from None
    config.optim.params = check_constructor_params(
        optim_cls, config.optim.params, ("optim",), where, skip={"self", "params"}
    )
    # An optimiser whose arguments name other things checks those too (muon: its fallback).
    problem_of = getattr(optim_cls, "config_problem", None)
    problem = problem_of(config.optim.params) if problem_of is not None else None
    if problem is not None:
        raise _fail(where, ("optim", problem[0]), problem[1])


def _check_consistency(config: Config, where: _Where) -> None:
    """Rules that involve more than one key (or the shape of one)."""
    corpus = config.data.corpus
    if isinstance(corpus, list) and len(corpus) != 2:
        raise _fail(
            where, ("data", "corpus"), f"a list must be [german_file, french_file], got {corpus!r}"
        )
    if config.train.checkpoint_every % config.train.valid_every and (
        config.train.valid_every % config.train.checkpoint_every
    ):
        raise _fail(
            where,
            ("train", "checkpoint_every"),
            "expected a multiple or divisor of train.valid_every",
        )
    if config.schedule.kind == "warmup" and config.schedule.factor <= 0:
        raise _fail(where, ("schedule", "factor"), "expected a value > 0 for warmup")
    if config.schedule.kind == "warmup" and config.schedule.warmup_steps < 1:
        raise _fail(where, ("schedule", "warmup_steps"), "expected a value >= 1 for warmup")
    if config.schedule.kind == "warmup" and config.schedule.d_model is None:
        if not isinstance(config.model.params.get("d_model"), int):
            raise _fail(
                where,
                ("schedule", "d_model"),
                "warmup needs d_model: set schedule.d_model or model.d_model",
            )


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a YAML config; any problem is one UserError line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config {path}: {exc}") from None
    try:
        raw = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{path}{line}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections ({', '.join(_SECTIONS)})")
    overridden = {tuple(_parse_override(o)[0]) for o in overrides or []}
    if overrides:
        raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, source=str(path), text=text, overridden=overridden)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from mlnotebook.translate.checkpoint import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(_plain(config.to_dict()), sort_keys=False))


def _plain(value: Any) -> Any:
    """Tuples become lists, which YAML's safe dumper can write."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
