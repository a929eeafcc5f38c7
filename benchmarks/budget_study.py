"""A compute-matched study: what matters when a translation model trains on a small budget.

Every variant trains for the same CPU-time budget (`train.budget_clock=cpu`,
so runs sharing the machine each get the same compute), then is scored on a
fixed sample of the *validation* split with greedy search (BLEU and chrF).
Choices are made on validation only; the test split is left for the
confirmation runs. Each variant changes one thing against a base:

    python benchmarks/budget_study.py --minutes 5 --parallel 2 --threads 1
    python benchmarks/budget_study.py --only base,dropout0 --seeds 1,2
    python benchmarks/budget_study.py --quick --out /tmp/study      # seconds, toy data

Results: `<out>/results.jsonl` (one line per finished run, appended, so a study
can be resumed: finished runs are skipped), `<out>/table.md` and
`<out>/scores.png`. Run folders are kept under `<out>/runs/`; every run shares
one tokenizer per vocabulary size and validates once, after its budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# The base: the shipped Transformer with the budget schedule (linear decay to zero).
BASE = [
    "schedule.kind=budget",
    "schedule.decay=linear",
    "schedule.warmup_steps=100",
    "optim.lr=0.002",
]


@dataclass(frozen=True)
class Variant:
    name: str
    question: str  # what the variant asks, for the table
    overrides: tuple[str, ...] = ()
    config: str = "transformer.yaml"
    with_base: bool = True  # start from BASE (else from the config as shipped)
    optim: tuple[tuple[str, object], ...] = ()  # replaces the config's whole optim section


VARIANTS = [
    Variant("shipped", "the shipped config (Noam warm-up 800)", with_base=False),
    Variant(
        "noam-w100",
        "the paper's schedule, warm-up sized to the budget",
        ("schedule.warmup_steps=100",),
        with_base=False,
    ),
    Variant("base", "budget schedule, linear decay, peak 2e-3, warm-up 100"),
    Variant("cosine", "cosine decay", ("schedule.decay=cosine",)),
    Variant("rex", "REX decay", ("schedule.decay=rex",)),
    Variant("lr1e-3", "peak learning rate 1e-3", ("optim.lr=0.001",)),
    Variant("lr4e-3", "peak learning rate 4e-3", ("optim.lr=0.004",)),
    Variant("dropout0", "no dropout", ("model.dropout=0.0",)),
    Variant("smooth0", "no label smoothing", ("train.label_smoothing=0.0",)),
    Variant(
        "noreg", "neither dropout nor smoothing", ("model.dropout=0.0", "train.label_smoothing=0.0")
    ),
    Variant("batch1024", "1,024-token batches", ("data.batch_tokens=1024",)),
    Variant("batch4096", "4,096-token batches", ("data.batch_tokens=4096",)),
    Variant(
        "small",
        "narrower: d 192, d_ff 768",
        ("model.d_model=192", "model.d_ff=768", "model.num_heads=4"),
    ),
    Variant(
        "shallow",
        "shallower: 2+2 layers",
        ("model.num_encoder_layers=2", "model.num_decoder_layers=2"),
    ),
    Variant(
        "wide",
        "wider: d 384, d_ff 1536",
        ("model.d_model=384", "model.d_ff=1536", "model.num_heads=6"),
    ),
    Variant("vocab4k", "4k-piece vocabulary", ("data.vocab_size=4000",)),
    Variant("vocab16k", "16k-piece vocabulary", ("data.vocab_size=16000",)),
    Variant("ema", "base, scored with a moving average (decay 0.998)", ("train.ema_decay=0.998",)),
    Variant(
        "muon",
        "Muon on hidden matrices (RMS matched to AdamW), AdamW on the rest",
        optim=(
            ("name", "muon"),
            ("adjust_lr_fn", "match_rms_adamw"),
            ("weight_decay", 0.0),
            ("fallback", "adamw"),
            ("fallback_betas", [0.9, 0.98]),
            ("fallback_eps", 1.0e-9),
            ("fallback_weight_decay", 0.0),
        ),
    ),
    Variant(
        "luong-shipped", "Luong attention LSTM as shipped", config="luong.yaml", with_base=False
    ),
    Variant(
        "luong-budget",
        "Luong with the budget schedule, peak 2e-3",
        ("schedule.warmup_steps=100",),
        config="luong.yaml",
    ),
]

# Seconds-long stand-ins for the test suite: a toy corpus and a tiny model.
QUICK_OVERRIDES = [
    "data.corpus=toy:reverse",
    "data.vocab_size=40",
    "model.d_model=16",
    "model.d_ff=32",
    "model.num_heads=2",
    "model.num_encoder_layers=1",
    "model.num_decoder_layers=1",
    "model.compile_loss=false",
    "train.max_steps=12",
    "train.valid_every=6",
    "train.checkpoint_every=6",
    "train.bleu_sentences=8",
]
QUICK_VARIANTS = ("base", "rex")


@dataclass
class Settings:
    out: Path
    minutes: float
    threads: int
    seeds: list[int]
    valid_sentences: int
    quick: bool
    python: str = sys.executable
    extra: list[str] = field(default_factory=list)


def run_name(variant: Variant, seed: int) -> str:
    return f"{variant.name}-s{seed}"


def train_command(variant: Variant, seed: int, settings: Settings) -> list[str]:
    overrides = list(BASE if variant.with_base else [])
    overrides += variant.overrides
    overrides += [
        f"train.out_dir={settings.out / 'runs' / run_name(variant, seed)}",
        f"train.seed={seed}",
        f"train.max_minutes={settings.minutes}",
        "train.budget_clock=cpu",
        "train.max_steps=1000000",
        "train.patience=0",
        "train.progress=false",
        # One validation, after the budget: validating inside it would cost
        # fast-stepping variants more of their budget than slow ones.
        "train.valid_every=1000000",
        "train.checkpoint_every=1000000",
    ]
    if not settings.quick:
        overrides.append(f"data.tokenizer={shared_tokenizer(variant, settings)}")
    if settings.quick:
        overrides = [o for o in overrides if not o.startswith("train.max_steps")]
        overrides += [o for o in QUICK_OVERRIDES if _applies(o, variant)]
    overrides += settings.extra
    config = derived_config(variant, settings) if variant.optim else CONFIGS / variant.config
    return [settings.python, "-m", "mlnotebook", "train", str(config), *overrides]


def derived_config(variant: Variant, settings: Settings) -> Path:
    """The variant's config with its own optim section (keys another optimiser lacks go)."""
    import yaml

    raw = yaml.safe_load((CONFIGS / variant.config).read_text())
    raw["optim"] = dict(variant.optim)
    path = settings.out / "configs" / f"{variant.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def vocab_size(variant: Variant) -> int:
    sizes = [o.split("=", 1)[1] for o in variant.overrides if o.startswith("data.vocab_size=")]
    return int(sizes[-1]) if sizes else 8000


def shared_tokenizer(variant: Variant, settings: Settings) -> Path:
    """One tokenizer per vocabulary size for the whole study (trained with seed 1234)."""
    return tokenizer_path(settings, vocab_size(variant))


def tokenizer_path(settings: Settings, size: int) -> Path:
    return settings.out / "tokenizers" / f"{size}.model"


def train_tokenizers(variants: Sequence[Variant], settings: Settings) -> None:
    from mlnotebook.translate.tokenizer import Tokenizer, TokenizerConfig
    from mlnotebook.translate.user_data import load_corpus

    missing = {vocab_size(v) for v in variants if not shared_tokenizer(v, settings).is_file()}
    if settings.quick or not missing:
        return
    train = load_corpus("default").train
    for size in sorted(missing):
        tokenizer = Tokenizer.train(train, TokenizerConfig(vocab_size=size, seed=1234))
        path = tokenizer_path(settings, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tokenizer.save(path)


def _applies(override: str, variant: Variant) -> bool:
    """Transformer-only model keys are left out of recurrent variants."""
    return variant.config == "transformer.yaml" or not override.startswith("model.")


def write_valid_sample(settings: Settings) -> Path:
    """A fixed sample of the validation split as a TSV, the study's yardstick."""
    from mlnotebook.translate.evaluate import write_tsv_pairs
    from mlnotebook.translate.user_data import load_corpus

    path = settings.out / "valid_sample.tsv"
    if not path.is_file():
        corpus = load_corpus("toy:reverse" if settings.quick else "default")
        write_tsv_pairs(path, corpus.valid[: settings.valid_sentences])
    return path


def score(run_dir: Path, valid_tsv: Path, weights: str) -> dict[str, float]:
    """Greedy BLEU/chrF of the run's final weights on the validation sample."""
    from mlnotebook.translate import api
    from mlnotebook.translate.evaluate import evaluate_pairs, read_tsv_pairs

    translator = api.load_model(run_dir, checkpoint=api.LAST_FILE, weights=weights)
    bleu, chrf, _ = evaluate_pairs(
        lambda texts: translator.translate(texts, beam=1), read_tsv_pairs(valid_tsv)
    )
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}


def run_one(variant: Variant, seed: int, settings: Settings, valid_tsv: Path) -> dict:
    name = run_name(variant, seed)
    run_dir = settings.out / "runs" / name
    env = {**os.environ, "OMP_NUM_THREADS": str(settings.threads)}
    log = settings.out / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as handle:
        done = subprocess.run(
            train_command(variant, seed, settings), stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    if done.returncode != 0:
        return {"run": name, "variant": variant.name, "seed": seed, "error": f"see {log}"}
    record = {
        "run": name,
        "variant": variant.name,
        "seed": seed,
        "question": variant.question,
        **run_facts(run_dir),
        "wall_minutes": round((time.monotonic() - started) / 60, 2),
        "valid": score(run_dir, valid_tsv, "auto"),
    }
    if "train.ema_decay" in " ".join(variant.overrides):
        record["valid_raw"] = score(run_dir, valid_tsv, "raw")
    return record


def run_facts(run_dir: Path) -> dict:
    from mlnotebook.translate.checkpoint import load_checkpoint

    state = load_checkpoint(run_dir / "last.pt")["run_state"]
    return {
        "steps": state["step"],
        "cpu_minutes": round(state.get("cpu_seconds", 0.0) / 60, 2),
        "valid_ppl": _last_valid(run_dir).get("ppl"),
    }


def _last_valid(run_dir: Path) -> dict:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["kind"] == "valid"]
    return valid[-1] if valid else {}


def finished_runs(results: Path) -> set[str]:
    if not results.is_file():
        return set()
    lines = results.read_text().splitlines()
    return {json.loads(line)["run"] for line in lines if '"error"' not in line}


def run_study(variants: Sequence[Variant], settings: Settings, parallel: int) -> list[dict]:
    settings.out.mkdir(parents=True, exist_ok=True)
    valid_tsv = write_valid_sample(settings)
    train_tokenizers(variants, settings)
    results = settings.out / "results.jsonl"
    done = finished_runs(results)
    todo = [(v, s) for v in variants for s in settings.seeds if run_name(v, s) not in done]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(run_one, v, s, settings, valid_tsv) for v, s in todo]
        for future in futures:
            record = future.result()
            with results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    return [json.loads(line) for line in results.read_text().splitlines()]


def write_table(records: list[dict], out: Path) -> str:
    lines = [
        "| run | question | steps | CPU min | valid ppl | valid BLEU | valid chrF |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['run']} | failed ({r['error']}) | | | | | |")
            continue
        ppl = f"{r['valid_ppl']:.1f}" if r.get("valid_ppl") else ""
        valid = r["valid"]
        extra = ""
        if "valid_raw" in r:
            extra = f" (raw weights: {r['valid_raw']['bleu']:.2f} / {r['valid_raw']['chrf']:.2f})"
        lines.append(
            f"| {r['run']} | {r['question']}{extra} | {r['steps']} | {r['cpu_minutes']} | {ppl} "
            f"| {valid['bleu']:.2f} | {valid['chrf']:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    return table


def write_summary(records: list[dict], out: Path) -> dict:
    """Means over seeds per variant, and each variant's paired gain over the base.

    {"variants": {name: {"bleu", "chrf", "ppl", "loss", "steps", "seeds"}},
     "gains": {name: {"loss": {"mean", "low", "high"}, "chrf": {...}, "seeds": n}}}

    A gain is taken seed by seed against the base run of the same seed (same data order
    and initial draw), positive when the variant is better: base loss minus variant loss
    (loss = ln of the validation perplexity), variant chrF minus base chrF; low/high are
    the 95 % t interval of the mean (NaN with one seed). The notebook's "training on a
    budget" claims read this file.
    """
    by_variant: dict[str, list[dict]] = {}
    for r in records:
        if "error" not in r:
            by_variant.setdefault(r["variant"], []).append(r)
    summary: dict = {"variants": {}, "gains": {}}
    for name, runs in by_variant.items():
        summary["variants"][name] = {
            "bleu": round(mean(r["valid"]["bleu"] for r in runs), 2),
            "chrf": round(mean(r["valid"]["chrf"] for r in runs), 2),
            "ppl": round(mean(r["valid_ppl"] for r in runs), 2),
            "loss": round(mean(math.log(r["valid_ppl"]) for r in runs), 4),
            "steps": round(mean(r["steps"] for r in runs)),
            "seeds": len(runs),
        }
    base = {r["seed"]: r for r in by_variant.get("base", [])}
    for name, runs in by_variant.items():
        paired = [(r, base[r["seed"]]) for r in runs if r["seed"] in base and name != "base"]
        if paired:
            summary["gains"][name] = {
                "loss": paired_gain(
                    [math.log(b["valid_ppl"]) - math.log(r["valid_ppl"]) for r, b in paired]
                ),
                "chrf": paired_gain([r["valid"]["chrf"] - b["valid"]["chrf"] for r, b in paired]),
                "seeds": len(paired),
            }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def paired_gain(differences: list[float]) -> dict:
    """Mean of per-seed differences and its 95 % t interval (NaN bounds with one seed)."""
    from mlnotebook.experiments.protocol import t_interval

    return {k: round(v, 4) for k, v in t_interval(differences).items()}


def plot_scores(records: list[dict], out: Path) -> Path:
    """Validation BLEU and chrF of every run, one bar each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in records if "error" not in r]
    figure, axes = plt.subplots(1, 2, figsize=(12, 0.35 * len(ok) + 1.5), sharey=True)
    names = [r["run"] for r in ok]
    for axis, metric in zip(axes, ("bleu", "chrf"), strict=True):
        axis.barh(names, [r["valid"][metric] for r in ok])
        axis.set(xlabel=f"validation {metric} (greedy, fixed sample)")
    axes[0].invert_yaxis()
    figure.tight_layout()
    path = out / "scores.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "budget_study")
    parser.add_argument("--minutes", type=float, default=5.0, help="CPU minutes per run")
    parser.add_argument("--threads", type=int, default=1, help="threads per run")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--valid-sentences", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="toy corpus, tiny model (tests)")
    parser.add_argument("extra", nargs="*", help="key=value overrides for every run")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or (
        list(QUICK_VARIANTS) if args.quick else [v.name for v in VARIANTS]
    )
    known = {v.name: v for v in VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(known)})")
    settings = Settings(
        out=args.out,
        minutes=args.minutes,
        threads=args.threads,
        seeds=[int(s) for s in args.seeds.split(",")],
        valid_sentences=args.valid_sentences,
        quick=args.quick,
        extra=args.extra,
    )
    records = run_study([known[n] for n in names], settings, args.parallel)
    print(write_table(records, args.out))
    write_summary(records, args.out)
    print(f"figure: {plot_scores(records, args.out)}")
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
