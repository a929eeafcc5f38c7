"""Loading and validating training configs: every mistake is one line naming file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnotebook.errors import UserError
from mlnotebook.translate.config import (
    Config,
    apply_overrides,
    config_from_dict,
    load_config,
    save_config,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))
FAMILIES = {"seq2seq", "luong", "bahdanau", "transformer"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(UserError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_family_has_a_shipped_config_and_all_load():
    families = {load_config(path).model.family for path in SHIPPED}
    assert families == FAMILIES
    assert any(path.name == "toy.yaml" for path in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_key_of_the_shipped_configs_is_commented(path: Path):
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        is_key = line.startswith("  ") and ":" in line and not line.strip().startswith("#")
        if is_key:
            assert "#" in line, f"{path.name}:{number} has no comment"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_build_their_models(path: Path):
    from mlnotebook.translate.model_registry import VocabInfo, build_model

    config = load_config(path, ["model.dropout=0.0"])
    model = build_model(config.model.family, config.model.params, VocabInfo(size=64))
    assert (model.pad_id, model.bos_id, model.eos_id) == (0, 2, 3)


def test_defaults_fill_missing_keys(tmp_path):
    config = load_config(_write(tmp_path, "train:\n  max_steps: 7\n"))
    assert config.train.max_steps == 7
    assert config.train.seed == Config().train.seed
    assert config.search.beam == 5


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = _write(tmp_path, "train:\n  seed: 1\n  max_step: 10\n")
    message = _error(path)
    assert f"{path}:3" in message and "train.max_step" in message and "unknown key" in message


def test_unknown_section(tmp_path):
    message = _error(_write(tmp_path, "trian:\n  seed: 1\n"))
    assert "trian" in message and "unknown section" in message


def test_wrong_type(tmp_path):
    path = _write(tmp_path, "data:\n  vocab_size: lots\n")
    message = _error(path)
    assert f"{path}:2" in message and "data.vocab_size" in message and "integer" in message


def test_bool_is_not_an_integer(tmp_path):
    assert "an integer" in _error(_write(tmp_path, "train:\n  max_steps: true\n"))


def test_out_of_range(tmp_path):
    message = _error(_write(tmp_path, "train:\n  label_smoothing: 1.5\n"))
    assert "train.label_smoothing" in message and "<= 1.0" in message


def test_bad_choice(tmp_path):
    message = _error(_write(tmp_path, "schedule:\n  kind: cosine\n"))
    assert "schedule.kind" in message and "none, warmup, plateau" in message


def test_model_arguments_are_checked_against_the_constructor(tmp_path):
    path = _write(tmp_path, "model:\n  family: luong\n  hidden: 64\n")
    message = _error(path)
    assert f"{path}:3" in message and "model.hidden" in message and "LuongSeq2Seq" in message
    message = _error(_write(tmp_path, "model:\n  family: transformer\n  d_model: wide\n"))
    assert "model.d_model" in message and "integer" in message


def test_data_derived_model_arguments_cannot_be_set(tmp_path):
    message = _error(_write(tmp_path, "model:\n  family: transformer\n  pad_id: 5\n"))
    assert "model.pad_id" in message


def test_unknown_family_and_optimiser(tmp_path):
    assert "model.family" in _error(_write(tmp_path, "model:\n  family: gru\n"))
    assert "optim.name" in _error(_write(tmp_path, "optim:\n  name: lion\n"))
    message = _error(_write(tmp_path, "optim:\n  name: sgd\n  betas: [0.9, 0.9]\n"))
    assert "optim.betas" in message


def test_optimiser_arguments_are_typed(tmp_path):
    config = load_config(_write(tmp_path, "optim:\n  name: AdamW\n  betas: [0.9, 0.98]\n  lr: 1\n"))
    assert config.optim.params == {"betas": (0.9, 0.98), "lr": 1.0}


def test_invalid_yaml_reports_its_line(tmp_path):
    path = _write(tmp_path, "train:\n  seed: 1\n  max_steps: [1, 2\n")
    message = _error(path)
    assert str(path) in message and "invalid YAML" in message


def test_missing_file():
    with pytest.raises(UserError, match="config file not found"):
        load_config("/nonexistent/run.yaml")


def test_overrides_keep_yaml_types_and_are_validated(tmp_path):
    path = _write(tmp_path, "train:\n  max_steps: 5\n")
    config = load_config(path, ["train.max_steps=12", "optim.betas=[0.8, 0.9]", "train.seed=3"])
    assert config.train.max_steps == 12 and config.train.seed == 3
    assert config.optim.params["betas"] == (0.8, 0.9)
    message = _error(path, ["train.max_steps=-1"])
    assert "override train.max_steps" in message and ">= 1" in message
    assert "expected key.path=value" in _error(path, ["train.max_steps"])
    assert "section.key=value" in _error(path, ["max_steps=3"])


def test_warmup_needs_a_width(tmp_path):
    text = "model:\n  family: luong\nschedule:\n  kind: warmup\n"
    assert "schedule.d_model" in _error(_write(tmp_path, text))
    config = load_config(_write(tmp_path, text + "  d_model: 128\n"))
    assert config.schedule.d_model == 128


def test_checkpoint_interval_must_line_up_with_validation(tmp_path):
    text = "train:\n  valid_every: 10\n  checkpoint_every: 4\n"
    assert "train.checkpoint_every" in _error(_write(tmp_path, text))


def test_save_then_load_round_trips(tmp_path):
    config = load_config(ROOT / "configs" / "transformer.yaml", ["train.seed=9"])
    save_config(config, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert again == config
    assert config_from_dict(config.to_dict()) == config


def test_overrides_do_not_touch_the_input():
    raw = {"train": {"seed": 1}}
    apply_overrides(raw, ["train.seed=2"])
    assert raw == {"train": {"seed": 1}}


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["train.max_steps", "train.label_smoothing", "search.beam", "data.corpus"]),
    value=st.one_of(
        st.integers(-5, 10**6), st.floats(allow_nan=False), st.text(max_size=8), st.booleans()
    ),
)
def test_any_override_value_is_accepted_or_one_clear_error(key, value):
    text = f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...')}"
    try:
        config = config_from_dict(apply_overrides({}, [text.strip()]))
    except UserError as exc:
        assert key in str(exc) and "\n" not in str(exc)
        return
    section, name = key.split(".")
    assert getattr(getattr(config, section), name) is not None


def test_corpus_is_a_spec_or_a_file_pair(tmp_path):
    config = load_config(_write(tmp_path, "data:\n  corpus: [a.de, a.fr]\n"))
    assert config.data.corpus == ["a.de", "a.fr"]
    assert "data.corpus" in _error(_write(tmp_path, "data:\n  corpus: [a.de]\n"))
    assert "data.corpus" in _error(_write(tmp_path, "data:\n  corpus: 3\n"))


# --------------------------------------------------------------------------- numbers


def _numeric_keys(raw: dict) -> list[tuple[str, str, float]]:
    return [
        (section, key, value)
        for section, values in raw.items()
        for key, value in (values or {}).items()
        if isinstance(value, float)
    ]


@pytest.mark.parametrize("name", ["seq2seq", "luong", "bahdanau", "transformer", "toy"])
def test_every_float_of_a_shipped_config_reads_in_exponent_form(name, tmp_path):
    path = ROOT / "configs" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    floats = _numeric_keys(raw)
    assert floats  # every config has some
    overrides = [f"{section}.{key}={value:e}" for section, key, value in floats]  # 1.000000e-03
    config = load_config(path, overrides).to_dict()
    for section, key, value in floats:
        assert config[section][key] == pytest.approx(value), (section, key)
    # In the file itself, written as 3e-4 (no dot), which YAML 1.1 reads as a string.
    text = path.read_text()
    for _section, key, value in floats:
        text = _rewrite_value(text, key, f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e"))
    copy = tmp_path / f"{name}.yaml"
    copy.write_text(text)
    loaded = load_config(copy).to_dict()
    for section, key, _value in floats:
        assert isinstance(loaded[section][key], float), (section, key, loaded[section][key])


def _rewrite_value(text: str, key: str, new: str) -> str:
    return re.sub(rf"^(\s*{key}:\s*)[^\s#]+", rf"\g<1>{new}", text, count=1, flags=re.M)


@pytest.mark.parametrize("written", ["3e-4", "3E-4", "3.0e-4", "0.0003", ".0003", "+3e-4"])
def test_learning_rates_in_any_usual_form(written, tmp_path):
    config = load_config(_write(tmp_path, "optim:\n  name: adam\n  lr: " + written + "\n"))
    assert config.optim.params["lr"] == pytest.approx(3e-4)


def test_type_errors_name_the_type_in_words(tmp_path):
    message = _error(_write(tmp_path, "optim:\n  name: adam\n  lr: fast\n"))
    assert "expected a number or a tensor" in message and "class" not in message
