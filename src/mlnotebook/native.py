"""Building and loading mlnotebook's native CPU kernels: one C++ extension.

The sources sit beside the concepts they speed up: optim/native.cpp (every
optimiser's update, one call per parameter group), and for inference
nn/decode_attention.cpp (attention for a decoder step), nn/layer_norm.cpp
(layer norm's forward) and nn/decoder_step.cpp (a whole Transformer decoder
step, built on the other two), registered under `torch.ops.mlnotebook`. One
extension compiles them all, in parallel, once.

The extension is compiled on first use with torch's own tool
(`torch.utils.cpp_extension.load`), which caches the build under
`$TORCH_EXTENSIONS_DIR` (default `~/.cache/torch_extensions`) and rebuilds
only when the source changes: the first build takes about a minute on 2
cores (the nn kernels include only ATen, not all of torch's C++ API, which
halves their compile time), later processes load it in well under a second.

It is compiled for the vector instructions torch's own kernels use on this
CPU (`torch.backends.cpu.get_cpu_capability()`), and that capability is part
of the extension's name, so a cache shared between machines never hands a CPU
code it cannot run. The instructions matter for more than speed: with FMA,
the compiler fuses `a * b + c` into one rounding, as it does in torch's AVX2
kernels, and only then do all 100-step parity tests hold to torch's
tolerance (without it, RMSprop's momentum buffer drifts to 2e-4 relative).
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import torch

PACKAGE = Path(__file__).parent
SOURCES = (
    PACKAGE / "optim" / "native.cpp",
    PACKAGE / "nn" / "decode_attention.cpp",
    PACKAGE / "nn" / "layer_norm.cpp",
    PACKAGE / "nn" / "decoder_step.cpp",
)
# The extension's name (the CPU capability is appended). torch counts builds
# of one name within a process and renames a rebuild (`_v1`, ...), so a test
# that builds something else uses another name.
NAME = "mlnotebook_native"
# -fno-math-errno: sqrt need not set errno, so loops containing it vectorise.
CFLAGS = ["-O3", "-fopenmp", "-fno-math-errno"]
# The instructions of each capability torch dispatches to (see above).
ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}


# The dtypes the kernels are written for (on the CPU).
DTYPES = frozenset({torch.float32, torch.float64})


class NativeBuildError(RuntimeError):
    """The C++ extension could not be compiled or loaded."""


@functools.cache
def extension() -> ModuleType:
    """The compiled extension (built on the first call, then cached)."""
    from torch.utils import cpp_extension

    # The build runs `ninja`, which pip installs next to this interpreter; a
    # venv's bin directory is not on PATH unless the venv is activated.
    saved_path = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), saved_path or ""])
    capability = torch.backends.cpu.get_cpu_capability()
    name = f"{NAME}_{capability.lower()}"
    if not _built_before(name):
        # A silent minute would look like a hang.
        print(
            "mlnotebook: compiling the native CPU kernels (optimisers, Transformer "
            "decoding; once per machine, about a minute)...",
            file=sys.stderr,
            flush=True,
        )
    try:
        return cpp_extension.load(
            name=name,
            sources=[str(source) for source in SOURCES],
            extra_cflags=CFLAGS + ISA_FLAGS.get(capability, []),
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as exc:  # a missing compiler or ninja: many exception types
        names = ", ".join(str(source) for source in SOURCES)
        raise NativeBuildError(
            f"could not build the native CPU kernels from {names} ({_first_error(str(exc))})"
        ) from exc
    finally:
        if saved_path is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = saved_path


@functools.cache
def extension_or_none() -> ModuleType | None:
    """The extension, or None where it cannot be built, said once on stderr: for
    the inference kernels, which have torch's own as a fallback (the optimisers
    do not: their `fused=True` asks for the native kernels and fails loudly)."""
    try:
        return extension()
    except NativeBuildError as exc:
        print(f"mlnotebook: {exc}; inference falls back to torch's kernels", file=sys.stderr)
        return None


def _first_error(log: str) -> str:
    """The compiler's first error line of a build log (which runs to pages)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    return (errors or lines or ["unknown error"])[0]


def _built_before(name: str) -> bool:
    """Whether torch's extension cache already holds a build of `name` (if its
    private helper moved, say yes: the message is only a courtesy)."""
    from torch.utils import cpp_extension

    try:
        folder = Path(cpp_extension._get_build_directory(name, False))
    except Exception:  # pragma: no cover - another torch
        return True
    return any(folder.glob(f"{name}*.so"))
