"""The metrics log: one JSON object per line, and the loss curves drawn from it.

Each line is a flat record such as
`{"kind": "train", "step": 200, "loss": 3.1, "lr": 0.0007, "tokens_per_s": 5400}`
or `{"kind": "valid", "step": 1000, "loss": 2.8, "ppl": 14.2, "bleu": 11.3}`.
JSON lines survive a crash (every line written is complete) and are easy to
read back with any tool. When a run resumes from a checkpoint, lines from steps
after that checkpoint are dropped, so the log never describes steps twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlnotebook.translate.checkpoint import atomic_write, atomic_write_text


class MetricsLog:
    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill mid-write
        return records

    def truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (used when resuming from that step)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def plot_loss_curves(records: list[dict[str, Any]], path: Path) -> None:
    """Training and validation loss against step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("kind") == "train"]
    valid = [(r["step"], r["loss"]) for r in records if r.get("kind") == "valid"]
    figure, axes = plt.subplots(figsize=(7, 4))
    if train:
        axes.plot(*zip(*train, strict=True), label="train (label-smoothed)", linewidth=1)
    if valid:
        axes.plot(*zip(*valid, strict=True), "o-", label="validation (label-smoothed)")
    axes.set_xlabel("step")
    axes.set_ylabel("loss per target token")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    atomic_write(Path(path), lambda name: figure.savefig(name, format="png", dpi=100))
    plt.close(figure)
