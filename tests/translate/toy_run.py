"""A toy translation run for the trainer tests: reverse a sequence of symbols.

Used in-process by test_trainer.py and as a script by test_resume.py and
test_ddp.py (`python -m tests.translate.toy_run OUT_DIR [key=value ...]`, also
under torchrun). The data are generated from a seed, so every process and every
rerun sees the same sentences in the same order.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch

from mlnotebook.translate.config import Config, apply_overrides, config_from_dict
from mlnotebook.translate.model_registry import VocabInfo, build_model
from mlnotebook.translate.trainer import Trainer, ValidationData, seed_everything

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SYMBOLS = list(range(4, 14))  # ten symbols
VOCAB = VocabInfo(size=14, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS)


@dataclass
class ToyBatch:
    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor


def make_pairs(count: int, seed: int, max_len: int = 7) -> list[tuple[list[int], list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(count):
        length = int(torch.randint(2, max_len + 1, (1,), generator=generator))
        src = [
            SYMBOLS[int(i)] for i in torch.randint(0, len(SYMBOLS), (length,), generator=generator)
        ]
        pairs.append((src, src[::-1]))
    return pairs


def collate(pairs: list[tuple[list[int], list[int]]]) -> ToyBatch:
    width_src = max(len(s) for s, _ in pairs)
    width_tgt = max(len(t) for _, t in pairs) + 1
    src = torch.full((len(pairs), width_src), PAD)
    tgt_in = torch.full((len(pairs), width_tgt), PAD)
    tgt_out = torch.full((len(pairs), width_tgt), PAD)
    for row, (s, t) in enumerate(pairs):
        src[row, : len(s)] = torch.tensor(s)
        tgt_in[row, : len(t) + 1] = torch.tensor([BOS, *t])
        tgt_out[row, : len(t) + 1] = torch.tensor([*t, EOS])
    return ToyBatch(src, tgt_in, tgt_out)


class ToySource:
    """Fixed-size batches in an order that depends only on (seed, epoch)."""

    def __init__(self, pairs, batch_size: int, seed: int, sleep: float = 0.0) -> None:
        self.pairs, self.batch_size, self.seed, self.sleep = pairs, batch_size, seed, sleep

    def epoch_batches(self, epoch: int) -> list[ToyBatch]:
        order = torch.randperm(
            len(self.pairs), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch)
        ).tolist()
        batches = [
            collate([self.pairs[i] for i in order[start : start + self.batch_size]])
            for start in range(0, len(order), self.batch_size)
        ]
        return _Slow(batches, self.sleep) if self.sleep else batches


class _Slow(list):
    """Sleeps when a batch is taken, so a subprocess test has time to kill the run."""

    def __init__(self, batches, sleep: float) -> None:
        super().__init__(batches)
        self.sleep = sleep

    def __getitem__(self, index):
        time.sleep(self.sleep)
        return super().__getitem__(index)


# Tiny settings per model family; "toy" is the GRU model in toy_seq2seq.py.
TINY_MODELS = {
    "toy": {"family": "tests.translate.toy_seq2seq:ToySeq2Seq", "hidden_dim": 24},
    **{
        family: {"family": family, "embedding_dim": 16, "hidden_size": 16, "dropout": 0.0}
        for family in ("seq2seq", "luong", "bahdanau")
    },
    "transformer": {
        "family": "transformer",
        "d_model": 16,
        "num_heads": 2,
        "num_encoder_layers": 1,
        "num_decoder_layers": 1,
        "d_ff": 32,
        "dropout": 0.0,
    },
}


def toy_config(out_dir: str, overrides: list[str] | None = None, family: str = "toy") -> Config:
    raw = {
        "data": {"vocab_size": VOCAB.size},
        "model": dict(TINY_MODELS[family]),
        "optim": {"name": "adam", "lr": 0.01},
        "schedule": {"kind": "none"},
        "train": {
            "out_dir": out_dir,
            "seed": 7,
            "max_steps": 30,
            "label_smoothing": 0.1,
            "clip_grad_norm": 1.0,
            "valid_every": 10,
            "checkpoint_every": 5,
            "bleu_sentences": 16,
            "patience": 0,
            "log_every": 5,
            "device": "cpu",
            "progress": False,
        },
        "search": {"beam": 1},
    }
    overridden = {tuple(o.split("=", 1)[0].split(".")) for o in overrides or []}
    return config_from_dict(apply_overrides(raw, overrides or []), "toy", None, overridden)


def decode(ids: list[int]) -> str:
    return " ".join(str(i) for i in ids)


def build_trainer(
    out_dir: str,
    overrides: list[str] | None = None,
    resume: bool = False,
    sleep: float = 0.0,
    family: str = "toy",
) -> Trainer:
    config = toy_config(out_dir, overrides, family)
    seed_everything(config.train.seed)
    model = build_model(config.model.family, config.model.params, VOCAB)
    source = ToySource(make_pairs(256, seed=1), 16, config.train.seed, sleep)
    valid_pairs = make_pairs(32, seed=2)
    valid = ValidationData(
        batches=[collate(valid_pairs[i : i + 16]) for i in range(0, 32, 16)],
        bleu_sources=[s for s, _ in valid_pairs],
        bleu_references=[decode(t) for _, t in valid_pairs],
        decode=decode,
    )
    return Trainer(config, model, source, valid, resume=resume)


def main(argv: list[str]) -> int:
    out_dir, rest = argv[0], argv[1:]
    resume = "--resume" in rest
    sleep = 0.0
    overrides = []
    for arg in rest:
        if arg.startswith("--sleep="):
            sleep = float(arg.split("=", 1)[1])
        elif arg != "--resume":
            overrides.append(arg)
    build_trainer(out_dir, overrides, resume=resume, sleep=sleep).fit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
