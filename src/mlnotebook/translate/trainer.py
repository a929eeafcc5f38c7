"""The training loop for every translation model, alone or under torchrun.

One step: take a global batch, keep this process's rows, predict every target
token from the reference prefix (teacher forcing), measure label-smoothed
cross-entropy over the real (non-padding) tokens, back-propagate, clip the
gradient norm, step the optimiser and the learning-rate schedule.

Every `valid_every` steps the model is scored on the validation split (loss,
perplexity, and BLEU of greedy translations of a sample); the best model so far
is kept as `best.pt`, and training stops early after `patience` validations
without improvement. `last.pt` is written every `checkpoint_every` steps with
everything needed to continue bit for bit (`--resume`). A run also stops at
`max_steps` or after `max_minutes` of training.

The loss is normalised by the number of target tokens in the *global* batch,
on every process:

    L = (sum over this process's tokens of loss_i) * W / N_global

DistributedDataParallel averages the W processes' gradients, so the update is
the gradient of (sum over all tokens of loss_i) / N_global: exactly what one
process computes on the whole batch.

The data come in through two small interfaces so the loop knows nothing of
corpora or tokenizers: a `BatchSource` gives the batches of an epoch in a fixed
order for a given epoch number (which makes the order resumable), and
`ValidationData` holds validation batches plus a BLEU sample.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mlnotebook.errors import UserError
from mlnotebook.optim.budget_schedule import BudgetDecay
from mlnotebook.translate import distributed as dist_utils
from mlnotebook.translate.checkpoint import (
    capture_rng_state,
    check_compatible,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from mlnotebook.translate.config import Config
from mlnotebook.translate.lr_schedule import budget_fraction, build_scheduler, steps_per_update
from mlnotebook.translate.metrics_log import MetricsLog, plot_loss_curves
from mlnotebook.translate.optim_registry import resolve_optimizer_class
from mlnotebook.translate.search import greedy_search, max_output_length
from mlnotebook.translate.weight_average import ExponentialAverage

SNAPSHOT_DIR = "snapshots"


class BatchSource(Protocol):
    def epoch_batches(self, epoch: int) -> Sequence[Any]:
        """The batches of epoch `epoch`, each with src [B,S], tgt_in [B,T], tgt_out [B,T]."""
        ...


@dataclass
class ValidationData:
    batches: Sequence[Any]  # same layout as training batches
    bleu_sources: list[list[int]] = field(default_factory=list)  # source ids, no padding
    bleu_references: list[str] = field(default_factory=list)  # reference text
    decode: Callable[[list[int]], str] | None = None  # target ids -> text


@dataclass
class RunState:
    """Where the run is; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already used
    best_valid_loss: float = math.inf
    bad_validations: int = 0
    elapsed_seconds: float = 0.0  # on train.budget_clock, the one the budget is counted on
    wall_seconds: float = 0.0  # both clocks, for the learning curves
    cpu_seconds: float = 0.0
    stop_reason: str = ""


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and torch (model init, dropout, sampling)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """A new run needs a folder without a run in it; --resume needs one with last.pt."""
    last = Path(out_dir) / "last.pt"
    if resume and not last.is_file():
        raise UserError(f"nothing to resume: {last} does not exist")
    if not resume and last.is_file():
        raise UserError(
            f"{out_dir} already holds a run; pass --resume to continue it "
            "or set train.out_dir to a new folder"
        )


def unpack_batch(batch: Any) -> tuple[Tensor, Tensor, Tensor]:
    if hasattr(batch, "src"):
        return batch.src, batch.tgt_in, batch.tgt_out
    src, tgt_in, tgt_out = batch
    return src, tgt_in, tgt_out


# --------------------------------------------------------------------------- loss


def token_loss_sums(
    logits: Tensor, tgt_out: Tensor, pad_id: int, label_smoothing: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Summed label-smoothed loss, summed NLL and the count of real target tokens.

    logits: [B, T, V] (log-probabilities work too: log_softmax leaves them unchanged)
    """
    flat_logits = logits.reshape(-1, logits.size(-1))  # [B*T, V]
    flat_target = tgt_out.reshape(-1)  # [B*T]
    # loss_i = (1 - eps) * -log p(y_i) + eps * mean_v(-log p(v)); padding ignored
    smoothed = F.cross_entropy(
        flat_logits,
        flat_target,
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    with torch.no_grad():
        nll = F.cross_entropy(flat_logits, flat_target, ignore_index=pad_id, reduction="sum")
    tokens = (flat_target != pad_id).sum()
    return smoothed, nll, tokens


class TeacherForcing(nn.Module):
    """The training forward pass, from a batch to `token_loss_sums`' three sums.

    Full teacher forcing runs `model.forward`, or the model's own `loss_sums` where
    it has one (the Transformer's, which skips padding and can fuse the output
    layer with the loss); with probability 1 - ratio per token, it instead feeds
    the model its own best guess (scheduled sampling, Bengio et al. 2015) through
    encode/decode_step.

    Wrapping this (not the bare model) in DDP keeps gradient syncing correct in
    every mode, since DDP only sees calls to the wrapped module's forward.
    """

    def __init__(self, model: nn.Module, ratio: float, pad_id: int, label_smoothing: float):
        super().__init__()
        self.model = model
        self.ratio = ratio
        self.pad_id = pad_id
        self.label_smoothing = label_smoothing

    def forward(
        self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        if self.ratio >= 1.0 and hasattr(self.model, "loss_sums"):
            return self.model.loss_sums(src, tgt_in, tgt_out, self.label_smoothing)
        scores = self.model(src, tgt_in) if self.ratio >= 1.0 else self.sampled(src, tgt_in)
        return token_loss_sums(scores, tgt_out, self.pad_id, self.label_smoothing)

    def sampled(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Scheduled sampling: [B, T, V] log-probabilities."""
        state = self.model.encode(src)
        prev = tgt_in[:, 0]  # [B] BOS
        steps = []
        for t in range(tgt_in.size(1)):
            log_probs, state, _ = self.model.decode_step(state, prev)  # [B, V]
            steps.append(log_probs)
            if t + 1 < tgt_in.size(1):
                use_reference = torch.rand(prev.shape, device=prev.device) < self.ratio
                prev = torch.where(use_reference, tgt_in[:, t + 1], log_probs.argmax(-1).detach())
        return torch.stack(steps, dim=1)  # [B, T, V] log-probabilities


# --------------------------------------------------------------------------- trainer


class Trainer:
    def __init__(
        self,
        config: Config,
        model: nn.Module,
        train_source: BatchSource,
        valid: ValidationData | None,
        resume: bool = False,
        tokenizer_path: str | None = None,
    ) -> None:
        self.config = config
        self.out_dir = Path(config.train.out_dir)
        self.context, self.device = dist_utils.setup_distributed(config.train.device)
        self.model = model.to(self.device)
        self.train_source = train_source
        self.valid = valid
        self.tokenizer_path = tokenizer_path
        self.pad_id = int(model.pad_id)
        self.optimizer = self._build_optimizer()
        d_model = config.model.params.get("d_model", getattr(model, "d_model", None))
        self.scheduler = build_scheduler(config.schedule, self.optimizer, d_model)
        decay = config.train.ema_decay
        self.ema = ExponentialAverage(self.model, decay) if decay is not None else None
        self.state = RunState()
        self.log = MetricsLog(self.out_dir / "metrics.jsonl", enabled=self.context.is_main)
        check_out_dir(self.out_dir, resume)
        if resume:
            self._resume()
        forward = TeacherForcing(
            self.model, config.train.teacher_forcing, self.pad_id, config.train.label_smoothing
        )
        self.forward: nn.Module = (
            DistributedDataParallel(forward, device_ids=self._ddp_device_ids())
            if self.context.active
            else forward
        )

    # ----------------------------------------------------------------- setup

    def _build_optimizer(self) -> torch.optim.Optimizer:
        # muon: the model's hidden matrices to Muon, the rest to optim.fallback
        from mlnotebook.translate.param_groups import optimizer_params

        optim_cls = resolve_optimizer_class(self.config.optim.name)
        try:
            params = optimizer_params(optim_cls, self.model)
            return optim_cls(params, **self.config.optim.params)
        except (TypeError, ValueError) as exc:
            raise UserError(f"optim: cannot build {optim_cls.__name__}: {exc}") from None

    def _ddp_device_ids(self) -> list[int] | None:
        return [self.device.index] if self.device.type == "cuda" else None

    def _resume(self) -> None:
        path = self.out_dir / "last.pt"
        payload = load_checkpoint(path, map_location=self.device)
        check_compatible(payload, self.config.to_dict(), path)
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            if self.scheduler is not None and payload.get("scheduler") is not None:
                self.scheduler.load_state_dict(payload["scheduler"])
            if self.ema is not None and payload.get("ema") is not None:
                self.ema.load_state_dict(self.model, payload["ema"], payload["ema_updates"])
        except (RuntimeError, KeyError, ValueError) as exc:
            message = str(exc).strip().splitlines()[0][:160]
            raise UserError(f"checkpoint {path} does not fit this model: {message}") from None
        self.state = RunState(**payload["run_state"])
        rng_states = payload["rng"]
        if len(rng_states) != self.context.world_size:
            raise UserError(
                f"checkpoint {path} was written by {len(rng_states)} processes; "
                f"resume with the same number (now {self.context.world_size})"
            )
        restore_rng_state(rng_states[self.context.rank])
        self.log.truncate_after(self.state.step)
        if isinstance(self.scheduler, BudgetDecay):  # the budget may have changed since
            self.scheduler.set_progress(self._budget_spent())

    # ----------------------------------------------------------------- loop

    def fit(self) -> RunState:
        """Train until max_steps, the time budget, or early stopping; return the final state."""
        progress = _Progress(self.config, self.state.step, self.context.is_main)
        started = _Clocks.started_after(self.state)
        window = _Window()
        # A resumed run may have stopped on a limit the new config has raised.
        self.state.stop_reason = ""
        if self.state.step >= self.config.train.max_steps:
            self.state.stop_reason = "max steps"
        try:
            while not self.state.stop_reason:
                batches = self.train_source.epoch_batches(self.state.epoch)
                if not batches:
                    raise UserError("the training split produced no batches")
                for index in range(self.state.batch_in_epoch, len(batches)):
                    window.add(self._train_step(batches[index]))
                    self._advance(index, len(batches), started)
                    self._after_step(window, progress)
                    if self.state.stop_reason:
                        break
            self._finish(window, progress)
        finally:
            progress.close()
            dist_utils.teardown_distributed(self.context)
        return self.state

    def _advance(self, index: int, n_batches: int, started: _Clocks) -> None:
        self.state.step += 1
        self.state.batch_in_epoch = index + 1
        if self.state.batch_in_epoch == n_batches:
            self.state.epoch, self.state.batch_in_epoch = self.state.epoch + 1, 0
        self.state.wall_seconds, self.state.cpu_seconds = started.elapsed()
        # CPU time counts every thread of this process: with runs sharing a
        # machine, each gets the same budget however the cores are shared.
        on_cpu = self.config.train.budget_clock == "cpu"
        spent = self.state.cpu_seconds if on_cpu else self.state.wall_seconds
        # Every process must read the same clock, or one would stop (or set its
        # learning rate) apart from the others.
        self.state.elapsed_seconds = dist_utils.agree_max(spent, self.context, self.device)
        train = self.config.train
        if train.max_minutes > 0 and self.state.elapsed_seconds >= 60 * train.max_minutes:
            self.state.stop_reason = "time budget"
        elif self.state.step >= train.max_steps:
            self.state.stop_reason = "max steps"
        self._step_schedule()

    def _step_schedule(self) -> None:
        """Per-update schedules step after every optimiser step; the budget one is
        told how much of the budget is spent, on the clock the budget is counted on."""
        if not steps_per_update(self.scheduler):
            return
        if isinstance(self.scheduler, BudgetDecay):
            self.scheduler.step(progress=self._budget_spent())
        else:
            self.scheduler.step()

    def _budget_spent(self) -> float:
        """The fraction of the budget used; it is 1 exactly when a budget stops the run."""
        return budget_fraction(self.config.train, self.state.step, self.state.elapsed_seconds)

    def _train_step(self, batch: Any) -> dict[str, float]:
        self.model.train()
        src, tgt_in, tgt_out = (
            dist_utils.shard_rows(t, self.context).to(self.device) for t in unpack_batch(batch)
        )
        if src.size(0) == 0:
            raise UserError(
                f"a batch has fewer sentences than the {self.context.world_size} processes; "
                "raise data.batch_tokens"
            )
        smoothed, nll, tokens = self.forward(src, tgt_in, tgt_out)
        totals = torch.stack([tokens.float(), smoothed.detach(), nll])  # [3]
        totals = dist_utils.all_reduce_sum(totals, self.context)
        global_tokens = totals[0].clamp(min=1.0)
        # L = sum_rank(loss) * W / N_global; DDP's gradient average then gives sum_all / N_global
        (smoothed * self.context.world_size / global_tokens).backward()
        grad_norm = self._clip_gradients()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        return {
            "tokens": float(totals[0]),
            "loss_sum": float(totals[1]),
            "nll_sum": float(totals[2]),
            "grad_norm": grad_norm,
        }

    def _clip_gradients(self) -> float:
        max_norm = self.config.train.clip_grad_norm
        if max_norm <= 0:
            return float("nan")
        # g <- g * min(1, max_norm / ||g||_2), the norm taken over all parameters at once
        return float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))

    def _after_step(self, window: _Window, progress: _Progress) -> None:
        train = self.config.train
        step = self.state.step
        progress.update(step, window)
        if step % train.log_every == 0:
            self.log.write({"kind": "train", **self._train_record(window)})
            window.reset()
        if self.valid is not None and step % train.valid_every == 0:
            self._validate_and_track(progress)
        if step % train.checkpoint_every == 0:
            self._save("last.pt")
            self._save_snapshot()

    def _finish(self, window: _Window, progress: _Progress) -> None:
        step = self.state.step
        if window.tokens:
            self.log.write({"kind": "train", **self._train_record(window)})
        validated_now = step % self.config.train.valid_every == 0
        if self.valid is not None and not validated_now:
            self._validate_and_track(progress)
        self._save("last.pt")
        if self.valid is None or not (self.out_dir / "best.pt").is_file():
            self._save("best.pt")
        if self.context.is_main:
            plot_loss_curves(self.log.read(), self.out_dir / "loss.png")
            progress.note(f"stopped after step {step}: {self.state.stop_reason}")
        dist_utils.settle(self.context)  # see there: avoids a deadlock at exit

    def _train_record(self, window: _Window) -> dict[str, Any]:
        return {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "loss": window.loss,
            "ppl": math.exp(min(window.nll, 50.0)),
            "lr": self.optimizer.param_groups[0]["lr"],
            "tokens_per_s": window.tokens_per_second,
            "grad_norm": window.grad_norm,
            "elapsed_s": round(self.state.elapsed_seconds, 2),
        }

    # ----------------------------------------------------------------- validation

    def _validate_and_track(self, progress: _Progress) -> None:
        metrics = self.validate()
        improved = metrics["nll"] < self.state.best_valid_loss
        if improved:
            self.state.best_valid_loss = metrics["nll"]
            self.state.bad_validations = 0
        else:
            self.state.bad_validations += 1
        if self.scheduler is not None and not steps_per_update(self.scheduler):
            self.scheduler.step(metrics["nll"])
        patience = self.config.train.patience
        if patience and self.state.bad_validations >= patience and not self.state.stop_reason:
            self.state.stop_reason = f"early stopping ({patience} validations without gain)"
        self.log.write({"kind": "valid", "step": self.state.step, **metrics})
        progress.note(_describe_validation(self.state.step, metrics, improved))
        if improved:
            self._save("best.pt")

    def validate(self) -> dict[str, float]:
        """Loss and perplexity on the validation batches, BLEU and chrF of greedy output
        on the sample, and the time spent so far on both clocks.

        With an average of the weights (train.ema_decay) the average is what is
        scored; the raw weights' loss is logged beside it as `raw_nll`.
        Every process computes the same numbers on the whole validation split, so
        decisions taken from them (best model, early stopping) agree without talking.
        """
        clocks = {
            "wall_s": round(self.state.wall_seconds, 2),
            "cpu_s": round(self.state.cpu_seconds, 2),
        }
        if self.ema is None:
            return {**self._validate_weights(), **clocks}
        raw_nll = self._validation_loss()["nll"]
        with self.ema.swapped_in(self.model):
            metrics = self._validate_weights()
        return {**metrics, "raw_nll": raw_nll, **clocks}

    def _validate_weights(self) -> dict[str, float]:
        metrics = self._validation_loss()
        metrics.update(self._sample_scores())
        return metrics

    @torch.no_grad()
    def _validation_loss(self) -> dict[str, float]:
        assert self.valid is not None
        self.model.eval()
        totals = torch.zeros(3)
        for batch in self.valid.batches:
            src, tgt_in, tgt_out = (t.to(self.device) for t in unpack_batch(batch))
            smoothed, nll, tokens = token_loss_sums(
                self.model(src, tgt_in), tgt_out, self.pad_id, self.config.train.label_smoothing
            )
            totals += torch.stack([tokens.float(), smoothed, nll]).cpu()
        tokens = max(float(totals[0]), 1.0)
        metrics = {"loss": float(totals[1]) / tokens, "nll": float(totals[2]) / tokens}
        # perplexity = exp(mean negative log-likelihood per target token)
        metrics["ppl"] = math.exp(min(metrics["nll"], 50.0))
        self.model.train()
        return metrics

    @torch.no_grad()
    def _sample_scores(self) -> dict[str, float]:
        """BLEU and chrF of greedy translations of the validation sample (none if off)."""
        valid = self.valid
        count = min(self.config.train.bleu_sentences, len(valid.bleu_sources))
        if count == 0 or valid.decode is None:
            return {}
        from mlnotebook.translate.evaluate import corpus_bleu, corpus_chrf

        self.model.eval()
        hypotheses = []
        for start in range(0, count, 64):
            chunk = valid.bleu_sources[start : min(start + 64, count)]
            src = _pad_rows(chunk, self.pad_id).to(self.device)
            search = self.config.search
            max_len = max_output_length(src, self.pad_id, search.max_len_a, search.max_len_b)
            found = greedy_search(self.model, src, max_len, with_attention=False)
            hypotheses += [valid.decode(h.tokens) for h in found]
        self.model.train()
        references = valid.bleu_references[:count]
        return {
            "bleu": corpus_bleu(hypotheses, references).score,
            "chrf": corpus_chrf(hypotheses, references).score,
        }

    # ----------------------------------------------------------------- checkpoints

    def _save(self, name: str) -> None:
        rng_states = dist_utils.gather_objects(capture_rng_state(), self.context)
        if not self.context.is_main:
            return
        scheduler = self.scheduler.state_dict() if self.scheduler is not None else None
        save_checkpoint(
            self.out_dir / name,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": scheduler,
                "rng": rng_states,
                "run_state": asdict(self.state),
                "config": self.config.to_dict(),
                "tokenizer": self.tokenizer_path,
                "world_size": self.context.world_size,
                **self._ema_entries(),
            },
        )

    def _ema_entries(self) -> dict[str, Any]:
        if self.ema is None:
            return {}
        return {"ema": self.ema.state_dict(self.model), "ema_updates": self.ema.updates}

    def _save_snapshot(self) -> None:
        """The weights alone, as snapshots/step-NNNNNNN.pt, keeping the newest
        train.keep_checkpoints of them (for `mlnb average`)."""
        keep = self.config.train.keep_checkpoints
        if keep == 0 or not self.context.is_main:
            return
        folder = self.out_dir / SNAPSHOT_DIR
        save_checkpoint(
            folder / f"step-{self.state.step:07d}.pt",
            {
                "model": self.model.state_dict(),
                "run_state": asdict(self.state),
                "config": self.config.to_dict(),
                "tokenizer": self.tokenizer_path,
                **self._ema_entries(),
            },
        )
        for old in sorted(folder.glob("step-*.pt"))[:-keep]:
            old.unlink()


def _pad_rows(rows: list[list[int]], pad_id: int) -> Tensor:
    width = max(1, *(len(r) for r in rows))
    table = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return table


def _describe_validation(step: int, metrics: dict[str, float], improved: bool) -> str:
    text = f"step {step}: valid loss {metrics['loss']:.3f}, ppl {metrics['ppl']:.2f}"
    if "bleu" in metrics:
        text += f", BLEU {metrics['bleu']:.2f}"
    return text + (" (best so far)" if improved else "")


# --------------------------------------------------------------------------- progress


@dataclass
class _Clocks:
    """Where both clocks stood when the run (re)started, net of time already spent."""

    wall: float
    cpu: float

    @classmethod
    def started_after(cls, state: RunState) -> _Clocks:
        return cls(wall_time() - state.wall_seconds, cpu_time() - state.cpu_seconds)

    def elapsed(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) of training, resumed parts included."""
        return wall_time() - self.wall, cpu_time() - self.cpu


def wall_time() -> float:
    return time.monotonic()


def cpu_time() -> float:
    """CPU seconds of this process, all its threads together."""
    return time.process_time()


class _Window:
    """Running sums since the last log line: loss and throughput over recent steps."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens = self.loss_sum = self.nll_sum = 0.0
        self.grad_norms: list[float] = []
        self.started = time.monotonic()

    def add(self, step_stats: dict[str, float]) -> None:
        self.tokens += step_stats["tokens"]
        self.loss_sum += step_stats["loss_sum"]
        self.nll_sum += step_stats["nll_sum"]
        self.grad_norms.append(step_stats["grad_norm"])

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.tokens, 1.0)

    @property
    def nll(self) -> float:
        return self.nll_sum / max(self.tokens, 1.0)

    @property
    def grad_norm(self) -> float:
        return sum(self.grad_norms) / max(len(self.grad_norms), 1)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(time.monotonic() - self.started, 1e-9)


class _Progress:
    """A rich progress bar with target tokens/s and loss, on the main process's terminal."""

    def __init__(self, config: Config, step: int, is_main: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        enabled = is_main and config.train.progress and sys.stderr.isatty()
        self.is_main = is_main
        self.bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not enabled,
        )
        self.task = self.bar.add_task(
            "train", total=config.train.max_steps, completed=step, info=""
        )
        self.bar.start()

    def update(self, step: int, window: _Window) -> None:
        info = f"loss {window.loss:.3f}  {window.tokens_per_second:,.0f} tok/s"
        self.bar.update(self.task, completed=step, info=info)

    def note(self, text: str) -> None:
        if self.is_main:
            self.console.print(text)

    def close(self) -> None:
        self.bar.stop()
