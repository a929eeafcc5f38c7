"""`mlnb demo`: the main job, end to end, on the built-in defaults.

Stages, each writing under one output folder:
1. the optimiser race on the 2-D surfaces (figures + table);
2. the batch-norm learning-rate sweep on scikit-learn's digits;
3. German-to-French: build the Debian corpus if absent, train a small
   Luong-attention model for a few minutes, translate held-out sentences and
   draw their attention maps.
`--quick` shrinks every stage (toy reverse-the-sequence data instead of the
corpus, quick experiment modes) so the whole pipeline runs in a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"


@dataclass
class DemoResult:
    out_dir: Path
    figures: dict[str, list[Path]] = field(default_factory=dict)
    translations: list[tuple[str, str]] = field(default_factory=list)


def run_demo(out_dir: Path, quick: bool = False, minutes: float = 4.0) -> DemoResult:
    console = Console()
    result = DemoResult(out_dir=Path(out_dir))
    result.out_dir.mkdir(parents=True, exist_ok=True)
    console.rule("1/3 optimiser race")
    result.figures["race"] = _race(result.out_dir / "race", quick)
    console.rule("2/3 batch normalisation sweep")
    result.figures["bn_sweep"] = _bn_sweep(result.out_dir / "bn_sweep", quick)
    console.rule("3/3 German to French")
    result.figures["attention"], result.translations = _translation(
        result.out_dir / "translation", quick, minutes
    )
    _report(console, result)
    return result


def _race(out_dir: Path, quick: bool) -> list[Path]:
    from mlnotebook.experiments.race import race_command

    race_command(out_dir, quick=quick, surfaces=None, steps=None)
    return sorted(out_dir.glob("*.png"))


def _bn_sweep(out_dir: Path, quick: bool) -> list[Path]:
    from mlnotebook.experiments.bn_sweep import run_bn_sweep

    summary = run_bn_sweep(out_dir, quick=quick)
    Console().print(summary)
    return sorted(out_dir.glob("*.png"))


def _translation_overrides(out_dir: Path, quick: bool, minutes: float) -> list[str]:
    common = [f"train.out_dir={out_dir}", "train.progress=true"]
    if quick:
        # A toy task and a tiny model: checks the whole path in seconds.
        return [
            *common,
            "data.corpus=toy:reverse",
            "data.vocab_size=40",
            "model.embedding_dim=32",
            "model.hidden_size=64",
            "model.num_layers=1",
            "train.max_steps=150",
            "train.valid_every=50",
            "train.checkpoint_every=50",
            "train.bleu_sentences=20",
        ]
    return [
        *common,
        f"train.max_minutes={minutes}",
        "train.valid_every=400",
        "train.checkpoint_every=400",
        "train.bleu_sentences=100",
    ]


def _translation(out_dir: Path, quick: bool, minutes: float) -> tuple[list[Path], list]:
    from mlnotebook.translate import api
    from mlnotebook.translate.attention_plot import plot_attention
    from mlnotebook.translate.evaluate import read_tsv_pairs

    overrides = _translation_overrides(out_dir, quick, minutes)
    if out_dir.exists():  # a fresh run each time the demo is asked for
        import shutil

        shutil.rmtree(out_dir)
    run_dir = api.train(CONFIG_DIR / "luong.yaml", overrides)
    translator = api.load_model(run_dir)
    held_out = read_tsv_pairs(run_dir / api.TEST_FILE)[:5]
    results = translator.translate_detailed([german for german, _ in held_out])
    figures = []
    for number, translation in enumerate(results, start=1):
        if translation.attention is not None:
            path = out_dir / f"attention-{number}.png"
            figures.append(
                plot_attention(
                    translation.source_pieces,
                    translation.target_pieces,
                    translation.attention,
                    path,
                    title=translation.source[:80],
                )
            )
    pairs = [(t.source, t.text) for t in results]
    for (german, reference), (_, output) in zip(held_out, pairs, strict=True):
        Console().print(f"[bold]de[/]  {german}\n[bold]ref[/] {reference}\n[bold]out[/] {output}\n")
    return figures, pairs


def _report(console: Console, result: DemoResult) -> None:
    console.rule("done")
    for stage, paths in result.figures.items():
        for path in paths:
            print(f"{stage:>10}: {path}")  # plain print: rich would wrap long paths
