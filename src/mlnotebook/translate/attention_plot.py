"""Attention heat maps: which source subwords each target subword looked at.

Each emitted target subword (rows, top to bottom, ending with the EOS step)
has a distribution over the source subwords (columns, left to right); the
brighter a cell, the more weight that source position got. A good alignment
runs roughly along the diagonal, bending where German and French order words
differently. For the Transformer the map is the last decoder layer's
cross-attention averaged over heads, so it shows where the model looked, not
necessarily which word it translated.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from mlnotebook.translate.checkpoint import atomic_write


def plot_attention(
    source_pieces: list[str],
    target_pieces: list[str],
    attention: Tensor,
    path: Path,
    title: str = "",
) -> Path:
    """Save one heat map. attention: [len(target_pieces), len(source_pieces)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = attention.shape
    if (rows, cols) != (len(target_pieces), len(source_pieces)):
        raise ValueError(
            f"attention is {rows}x{cols} but there are {len(target_pieces)} target and "
            f"{len(source_pieces)} source subwords"
        )
    width = min(2.0 + 0.45 * cols, 30.0)
    height = min(1.5 + 0.4 * rows, 30.0)
    figure, axes = plt.subplots(figsize=(width, height))
    image = axes.imshow(attention.detach().float().cpu().numpy(), cmap="viridis", vmin=0.0)
    axes.set_xticks(range(cols), source_pieces, rotation=60, ha="right", fontsize=9)
    axes.set_yticks(range(rows), target_pieces, fontsize=9)
    axes.set_xlabel("source subwords")
    axes.set_ylabel("target subwords")
    if title:
        axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    path = Path(path)
    atomic_write(path, lambda name: figure.savefig(name, format="png", dpi=100))
    plt.close(figure)
    return path


def numbered_paths(path: Path, count: int) -> list[Path]:
    """FILE.png for one sentence; FILE-1.png, FILE-2.png, ... for several."""
    path = Path(path)
    if count == 1:
        return [path]
    suffix = path.suffix or ".png"
    return [path.with_name(f"{path.stem}-{i}{suffix}") for i in range(1, count + 1)]
