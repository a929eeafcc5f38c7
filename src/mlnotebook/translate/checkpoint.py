"""Checkpoints: everything needed to continue a run exactly, in a file safe to load.

A checkpoint holds the model weights, the optimiser and scheduler state, the
random number generators (Python's, NumPy's, torch's CPU and CUDA), where the
run was in the data (epoch and batch index), the step count, the early-stopping
bookkeeping, the config it was trained with and the tokenizer path.

Everything is stored as tensors and plain Python values (dicts, lists, numbers,
strings), so `torch.load(weights_only=True)` can read it: that loader refuses
arbitrary pickled objects, which is what makes opening a downloaded checkpoint
safe. Files are written to a temporary name in the same folder and then
renamed over the target (`os.replace` is atomic on one filesystem), so a run
killed mid-write leaves the previous checkpoint intact, never half a file.
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlnotebook.errors import UserError

FORMAT = "mlnotebook-translate-checkpoint"
VERSION = 1


def atomic_write(path: Path, write: Any) -> None:
    """Call write(temp_path) and rename the result over `path` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(temp_name)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda name: Path(name).write_text(text, encoding="utf-8"))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint dict (see `load_checkpoint` for the keys) atomically."""
    atomic_write(
        Path(path), lambda name: torch.save({"format": FORMAT, "version": VERSION, **payload}, name)
    )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; a corrupt or foreign file is one UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"checkpoint {path} is corrupt or unreadable ({first_line[:120]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not an mlnotebook translation checkpoint")
    if payload.get("version") != VERSION:
        raise UserError(
            f"checkpoint {path} has format version {payload.get('version')}, expected {VERSION}"
        )
    return payload


# --------------------------------------------------------------------------- RNG state


def capture_rng_state() -> dict[str, Any]:
    """The state of every random generator the run touches, as tensors and plain values."""
    version, internal, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "kind": np_kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["kind"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# --------------------------------------------------------------------------- compatibility


def check_compatible(payload: dict[str, Any], config_dict: dict[str, Any], path: Path) -> None:
    """Refuse to resume when the model or vocabulary in the checkpoint differs from the config."""
    saved = payload.get("config", {})
    for section, keys in (("model", None), ("data", ("vocab_size",))):
        saved_section = saved.get(section, {})
        new_section = config_dict.get(section, {})
        for key in keys or sorted(set(saved_section) | set(new_section)):
            if saved_section.get(key) != new_section.get(key):
                raise UserError(
                    f"checkpoint {path} was trained with {section}.{key}="
                    f"{saved_section.get(key)!r}, but the config says {new_section.get(key)!r}"
                )
