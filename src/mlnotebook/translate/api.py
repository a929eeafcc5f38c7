"""The Python face of the translation toolkit: train a model, load it, translate, score.

    from mlnotebook.translate import api
    run_dir = api.train("configs/transformer.yaml", ["train.max_steps=2000"])
    translator = api.load_model(run_dir)
    translator.translate(["Guten Morgen!", ""])   # -> ["Bonjour !", ""]
    api.translate(run_dir, ["Danke."], beam=1)     # load and translate in one call
    bleu, chrf = api.evaluate(run_dir)

A run directory holds everything needed to use the model later: the resolved
`config.yaml`, the `tokenizer.model`, the checkpoints `best.pt` and `last.pt`,
the held-out `test.tsv` split, `metrics.jsonl` and `loss.png`. It can be moved
or copied as a whole; nothing in it points elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from mlnotebook.errors import UserError
from mlnotebook.nn.packed_linear import packed_weights
from mlnotebook.translate import distributed as dist_utils
from mlnotebook.translate.checkpoint import load_checkpoint
from mlnotebook.translate.config import Config, config_from_dict, load_config, save_config
from mlnotebook.translate.evaluate import Score, evaluate_pairs, read_tsv_pairs, write_tsv_pairs
from mlnotebook.translate.model_registry import VocabInfo, build_model
from mlnotebook.translate.search import Hypothesis, max_output_length, translate_ids

CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.model"
TEST_FILE = "test.tsv"
BEST_FILE = "best.pt"
LAST_FILE = "last.pt"
AVERAGE_FILE = "average.pt"
_TRANSLATE_BATCH = 32  # sentences per search batch


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


# --------------------------------------------------------------------------- training


def train(config: Config | str | Path, overrides: Sequence[str] = (), resume: bool = False) -> Path:
    """Train (or with resume=True continue) the run described by `config`; return its folder.

    Works alone or under torchrun: process 0 prepares the tokenizer and the run
    folder, the others wait for it and then read what it wrote.
    """
    from mlnotebook.translate import training_data
    from mlnotebook.translate.trainer import Trainer, check_out_dir, seed_everything

    if not isinstance(config, Config):
        config = load_config(config, list(overrides))
    elif overrides:
        raise ValueError("overrides apply to a config file; edit the Config object instead")
    out_dir = Path(config.train.out_dir)
    check_out_dir(out_dir, resume)
    context, _ = dist_utils.setup_distributed(config.train.device)
    seed_everything(config.train.seed)
    corpus = training_data.load_splits(config)
    if context.is_main:
        _stderr(corpus.report.summary())
    tokenizer = _prepare_run_dir(config, corpus, out_dir, resume, context)
    seed_everything(config.train.seed)  # the same initial weights whatever came before
    model = build_model(config.model.family, config.model.params, _vocab_info(tokenizer))
    train_source = training_data.training_batches(config, tokenizer, corpus.train)
    valid = training_data.validation_data(config, tokenizer, corpus.valid)
    Trainer(config, model, train_source, valid, resume=resume, tokenizer_path=TOKENIZER_FILE).fit()
    return out_dir


def _prepare_run_dir(config: Config, corpus, out_dir: Path, resume: bool, context):
    """Process 0 writes tokenizer, config and test split; everyone then loads the tokenizer."""
    from mlnotebook.translate import training_data
    from mlnotebook.translate.tokenizer import Tokenizer

    tokenizer_path = out_dir / TOKENIZER_FILE
    if context.is_main and not resume:
        tokenizer = training_data.make_tokenizer(config, corpus.train)
        tokenizer.save(tokenizer_path)
        save_config(config, out_dir / CONFIG_FILE)
        write_tsv_pairs(out_dir / TEST_FILE, corpus.test)
    if context.active:
        torch.distributed.barrier()
    return Tokenizer.load(tokenizer_path)


def _vocab_info(tokenizer) -> VocabInfo:
    return VocabInfo(
        size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        unk_id=tokenizer.unk_id,
        bos_id=tokenizer.bos_id,
        eos_id=tokenizer.eos_id,
    )


# --------------------------------------------------------------------------- translation


@dataclass
class Translation:
    source: str
    text: str
    source_pieces: list[str]
    target_pieces: list[str]  # the emitted subwords, then "</s>" for the EOS step
    attention: Tensor | None  # [len(target_pieces), len(source_pieces)]
    log_prob: float
    truncated: bool


class Translator:
    """A trained model with its tokenizer and search settings."""

    def __init__(self, model: nn.Module, tokenizer, config: Config, run_dir: Path) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.run_dir = run_dir
        self.device = next(model.parameters()).device

    def translate(
        self,
        texts: Sequence[str],
        beam: int | None = None,
        length_penalty: float | None = None,
        note: Callable[[str], None] = _stderr,
    ) -> list[str]:
        """Translate each text; empty input gives empty output."""
        # Text only: the search need not carry attention maps along.
        detailed = self.translate_detailed(texts, beam, length_penalty, note, with_attention=False)
        return [t.text for t in detailed]

    def translate_detailed(
        self,
        texts: Sequence[str],
        beam: int | None = None,
        length_penalty: float | None = None,
        note: Callable[[str], None] = _stderr,
        with_attention: bool = True,
    ) -> list[Translation]:
        """Translations with subwords, attention and score, in input order.

        with_attention=False leaves `attention` None (a faster search).
        """
        from mlnotebook.translate import training_data

        beam = self.config.search.beam if beam is None else beam
        if beam < 1:
            raise ValueError(f"beam must be at least 1, got {beam}")
        alpha = self.config.search.length_penalty if length_penalty is None else length_penalty
        max_len = self.config.data.max_src_len
        results: list[Translation | None] = [None] * len(texts)
        encoded: list[tuple[int, list[int]]] = []
        for index, text in enumerate(texts):
            if not text.strip():
                results[index] = Translation(text, "", [], [], None, 0.0, False)
                continue
            ids = training_data.encode_source(self.tokenizer, text)
            if len(ids) > max_len:
                note(
                    f"note: sentence {index + 1} has {len(ids)} subwords; translating the "
                    f"first {max_len} (data.max_src_len)"
                )
            encoded.append((index, ids[:max_len]))
        # Similar lengths together: less padding per search batch.
        encoded.sort(key=lambda item: len(item[1]))
        with packed_weights():  # packed once for every batch, not once per batch
            for start in range(0, len(encoded), _TRANSLATE_BATCH):
                chunk = encoded[start : start + _TRANSLATE_BATCH]
                hypotheses = self._search(chunk, beam, alpha, with_attention)
                for (index, ids), hyp in zip(chunk, hypotheses, strict=True):
                    results[index] = self._translation(texts[index], ids, hyp, max_len)
        return results  # type: ignore[return-value]

    def _search(
        self, chunk: list[tuple[int, list[int]]], beam: int, alpha: float, with_attention: bool
    ):
        pad = self.tokenizer.pad_id
        width = max(len(ids) for _, ids in chunk)
        src = torch.full((len(chunk), width), pad, dtype=torch.long)
        for row, (_, ids) in enumerate(chunk):
            src[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        src = src.to(self.device)
        search = self.config.search
        max_len = max_output_length(src, pad, search.max_len_a, search.max_len_b)
        return translate_ids(
            self.model, src, beam, max_len, alpha, with_attention, stopping=search.stopping
        )

    def _translation(self, text: str, ids: list[int], hyp: Hypothesis, max_len: int):
        tokenizer = self.tokenizer
        source_pieces = _pieces(tokenizer, ids)
        target_pieces = _pieces(tokenizer, hyp.tokens)
        attention = hyp.attention
        if attention is not None and attention.size(0) == len(hyp.tokens) + 1:
            target_pieces.append("</s>")
        return Translation(
            source=text,
            text=tokenizer.decode([hyp.tokens])[0],
            source_pieces=source_pieces,
            target_pieces=target_pieces,
            attention=attention,
            log_prob=hyp.log_prob,
            truncated=len(ids) >= max_len,
        )


def _pieces(tokenizer, ids: list[int]) -> list[str]:
    """One label per subword (for attention plots): each id decoded on its own."""
    return list(tokenizer.decode([[i] for i in ids])) if ids else []


WEIGHT_CHOICES = ("auto", "raw", "ema")


def load_model(
    run_dir: str | Path, device: str = "cpu", checkpoint: str = BEST_FILE, weights: str = "auto"
) -> Translator:
    """The model saved in `run_dir` (best.pt unless told), ready to translate.

    weights: "raw" (the optimiser's own weights), "ema" (their moving average,
    kept when the run set train.ema_decay), or "auto": the average when the
    checkpoint has one (validation chose it), else the raw weights.
    """
    from mlnotebook.translate.distributed import pick_device
    from mlnotebook.translate.tokenizer import Tokenizer

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"model folder not found: {run_dir}")
    path = run_dir / checkpoint
    if checkpoint == BEST_FILE and not path.is_file() and (run_dir / LAST_FILE).is_file():
        path = run_dir / LAST_FILE
    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"], source=f"{path} (saved config)")
    tokenizer = Tokenizer.load(run_dir / TOKENIZER_FILE)
    model = build_model(config.model.family, config.model.params, _vocab_info(tokenizer))
    try:
        model.load_state_dict(_chosen_weights(payload, weights, path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[0][:160]
        raise UserError(f"{path} does not fit its own config/tokenizer: {message}") from None
    return Translator(model.to(pick_device(device)), tokenizer, config, run_dir)


def _chosen_weights(payload: dict, weights: str, path: Path) -> dict[str, Tensor]:
    if weights not in WEIGHT_CHOICES:
        raise UserError(f"weights {weights!r}: expected one of {', '.join(WEIGHT_CHOICES)}")
    average = payload.get("ema")
    if weights == "ema" and average is None:
        raise UserError(f"{path} holds no average of the weights (train with train.ema_decay)")
    if weights == "raw" or average is None:
        return payload["model"]
    return average


def translate(
    run_dir: str | Path, texts: Sequence[str], beam: int | None = None, device: str = "cpu"
) -> list[str]:
    """One-shot: load the model in `run_dir` and translate `texts` (see Translator.translate)."""
    return load_model(run_dir, device=device).translate(texts, beam=beam)


# --------------------------------------------------------------------------- averaging


def average_checkpoints(run_dir: str | Path, last: int, out_name: str = AVERAGE_FILE) -> Path:
    """Average the weights of the run's last `last` snapshots into `out_name`.

    The snapshots are those training kept (train.keep_checkpoints) in
    `snapshots/`; the result is a checkpoint that `load_model(..., checkpoint=
    out_name)` reads, with the config and tokenizer of the newest snapshot.
    """
    from mlnotebook.translate.checkpoint import save_checkpoint
    from mlnotebook.translate.trainer import SNAPSHOT_DIR
    from mlnotebook.translate.weight_average import average_state_dicts

    run_dir = Path(run_dir)
    if last < 1:
        raise UserError(f"--last must be at least 1, got {last}")
    if Path(out_name).name != out_name or out_name in (BEST_FILE, LAST_FILE):
        raise UserError(f"--out {out_name!r}: expected a new file name inside the run folder")
    found = sorted((run_dir / SNAPSHOT_DIR).glob("step-*.pt"))
    if len(found) < last:
        raise UserError(
            f"{run_dir / SNAPSHOT_DIR} holds {len(found)} snapshots, fewer than --last {last} "
            "(train with train.keep_checkpoints=K to keep them)"
        )
    chosen = found[-last:]
    payloads = [load_checkpoint(path) for path in chosen]
    try:
        weights = average_state_dicts([p["model"] for p in payloads])
    except ValueError as exc:
        raise UserError(f"cannot average {chosen[0].parent}: {exc}") from None
    newest = payloads[-1]
    out = run_dir / out_name
    save_checkpoint(
        out,
        {
            "model": weights,
            "run_state": newest["run_state"],
            "config": newest["config"],
            "tokenizer": newest.get("tokenizer"),
            "averaged": [path.name for path in chosen],
        },
    )
    return out


# --------------------------------------------------------------------------- evaluation


def evaluate(
    run_dir: str | Path,
    test_file: str | Path | None = None,
    beam: int | None = None,
    device: str = "cpu",
    checkpoint: str = BEST_FILE,
    weights: str = "auto",
    length_penalty: float | None = None,
) -> tuple[Score, Score]:
    """Corpus BLEU and chrF on the run's held-out test split, or on a user TSV."""
    translator = load_model(run_dir, device=device, checkpoint=checkpoint, weights=weights)
    path = Path(test_file) if test_file is not None else Path(run_dir) / TEST_FILE
    pairs = read_tsv_pairs(path)
    bleu, chrf, _ = evaluate_pairs(
        lambda texts: translator.translate(texts, beam=beam, length_penalty=length_penalty), pairs
    )
    return bleu, chrf
