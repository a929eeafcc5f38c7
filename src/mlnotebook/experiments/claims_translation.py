"""Translation claims measured on a toy task: reverse a short sequence of symbols.

The claims the translation entries make (attention helps an LSTM encoder-decoder, the
Transformer beats both, beam search finds better-scoring outputs than greedy search,
label smoothing trades likelihood for accuracy, warm-up rescues a post-norm Transformer
at a high learning rate) are measured here on a task small enough to train in seconds:
the source is 2-9 random symbols, the target the same symbols reversed. Every model
family of `translate.model_registry` trains with the same data, optimiser and step
budget, and is scored on held-out pairs by exact match and by BLEU (sacreBLEU over the
symbols as words), so the figures have the same names as a real run's. Beside them:
exact match on short and long sources (does one fixed vector struggle with length?), the
share of output steps whose attention peaks on the mirrored source symbol (does attention
align?), and a copy-the-source baseline, with `test.<family>.{bleu,chrf}` laid out as in
`results/translation.json`.

These are toy figures: they say what the models do on this task, not on German-to-French.
Entries cite `results/translation.json` for the real corpus; until a full training run
writes it, the notebook shows the toy figures and says the real ones are not yet measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mlnotebook.translate.evaluate import corpus_bleu, corpus_chrf
from mlnotebook.translate.model_registry import VocabInfo, build_model
from mlnotebook.translate.search import beam_search, greedy_search
from mlnotebook.translate.trainer import token_loss_sums

VOCAB = VocabInfo(size=24, pad_id=0, unk_id=1, bos_id=2, eos_id=3)
SYMBOLS = range(4, 24)  # twenty symbols
MIN_LEN, MAX_LEN = 2, 9
SHORT_MAX = 5  # sources of 2-5 symbols count as short, 6-9 as long
BATCH = 64
BEAM = 4
RNN = {"embedding_dim": 32, "hidden_size": 64, "dropout": 0.0}
FAMILIES: dict[str, dict] = {
    "seq2seq": RNN,
    "luong": RNN,
    "bahdanau": RNN,
    "transformer": {
        "d_model": 64,
        "num_heads": 4,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "d_ff": 128,
        "dropout": 0.0,
        "norm_first": True,
        "max_len": 32,
    },
}


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    lr: float = 3e-3
    label_smoothing: float = 0.0
    warmup_steps: int = 0  # 0: constant lr from the first step


def make_pairs(count: int, seed: int) -> list[tuple[list[int], list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(count):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=generator))
        ids = torch.randint(SYMBOLS.start, SYMBOLS.stop, (length,), generator=generator)
        pairs.append((ids.tolist(), ids.flip(0).tolist()))
    return pairs


def collate(pairs: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, ...]:
    """src [B, S], tgt_in [B, T] (BOS first), tgt_out [B, T] (EOS last), padded with 0."""
    width_src = max(len(s) for s, _ in pairs)
    width_tgt = max(len(t) for _, t in pairs) + 1
    src = torch.full((len(pairs), width_src), VOCAB.pad_id)
    tgt_in = torch.full((len(pairs), width_tgt), VOCAB.pad_id)
    tgt_out = torch.full((len(pairs), width_tgt), VOCAB.pad_id)
    for row, (source, target) in enumerate(pairs):
        src[row, : len(source)] = torch.tensor(source)
        tgt_in[row, : len(target) + 1] = torch.tensor([VOCAB.bos_id, *target])
        tgt_out[row, : len(target) + 1] = torch.tensor([*target, VOCAB.eos_id])
    return src, tgt_in, tgt_out


def _warmup(settings: TrainSettings):
    # lr_t = lr * min(1, t / warmup): a linear ramp, then constant
    return lambda step: (
        min(1.0, (step + 1) / settings.warmup_steps) if settings.warmup_steps else 1.0
    )


# Models trained with a family's default parameters, kept for the lifetime of the process:
# the label-smoothing claim's unsmoothed Transformer is the model-families one, trained once.
_TRAINED: dict[tuple[str, TrainSettings, int], tuple] = {}


def train_family(family: str, settings: TrainSettings, params: dict | None = None, seed: int = 0):
    if params is None:
        key = (family, settings, seed)
        if key not in _TRAINED:
            _TRAINED[key] = _train(family, settings, FAMILIES[family], seed)
        return _TRAINED[key]
    return _train(family, settings, params, seed)


def _train(family: str, settings: TrainSettings, params: dict, seed: int):
    torch.manual_seed(seed)
    model = build_model(family, dict(params), VOCAB)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup(settings))
    pairs = make_pairs(settings.steps * BATCH, seed=seed + 1)
    losses = []
    model.train()
    for step in range(settings.steps):
        src, tgt_in, tgt_out = collate(pairs[step * BATCH : (step + 1) * BATCH])
        smoothed, _, tokens = token_loss_sums(
            model(src, tgt_in), tgt_out, VOCAB.pad_id, settings.label_smoothing
        )
        loss = smoothed / tokens  # mean over real target tokens
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    return model.eval(), losses


@torch.no_grad()
def score_model(model, pairs) -> dict:
    """Exact match and BLEU for greedy and beam search, the search scores, and test NLL."""
    src, tgt_in, tgt_out = collate(pairs)
    _, nll, tokens = token_loss_sums(model(src, tgt_in), tgt_out, VOCAB.pad_id, 0.0)
    references = [" ".join(map(str, target)) for _, target in pairs]
    figures: dict = {"nll_per_token": float(nll / tokens)}
    greedy = greedy_search(model, src, MAX_LEN + 2)
    beam = beam_search(model, src, BEAM, MAX_LEN + 2)
    for name, hypotheses in (("greedy", greedy), ("beam", beam)):
        outputs = [" ".join(map(str, h.tokens)) for h in hypotheses]
        figures[f"{name}_exact_match"] = sum(
            o == r for o, r in zip(outputs, references, strict=True)
        ) / len(pairs)
        figures[f"{name}_bleu"] = corpus_bleu(outputs, references).score
        figures[f"{name}_mean_log_prob"] = sum(h.log_prob for h in hypotheses) / len(pairs)
    figures["greedy_chrf"] = corpus_chrf(
        [" ".join(map(str, h.tokens)) for h in greedy], references
    ).score
    figures.update(_exact_match_by_length(greedy, pairs))
    figures["attention_on_mirror"] = _attention_on_mirror(greedy, pairs)
    return figures


def _exact_match_by_length(hypotheses, pairs) -> dict:
    """Greedy exact match on short (2-5 symbols) and long (6-9 symbols) sources."""
    figures = {}
    for name, keep in (("short", lambda n: n <= SHORT_MAX), ("long", lambda n: n > SHORT_MAX)):
        rows = [(h, t) for h, (s, t) in zip(hypotheses, pairs, strict=True) if keep(len(s))]
        figures[f"exact_match_{name}"] = sum(h.tokens == t for h, t in rows) / max(len(rows), 1)
    return figures


def _attention_on_mirror(hypotheses, pairs) -> float | None:
    """Share of output steps whose largest attention weight is on the mirrored source symbol.

    Reversing means output step t copies source position n - 1 - t, so a model that aligns
    as attention is meant to should look there. Only outputs of the right length count;
    None for a model that reports no attention (the plain encoder-decoder).
    """
    hits = steps = 0
    for hypothesis, (source, _) in zip(hypotheses, pairs, strict=True):
        if hypothesis.attention is None:
            return None
        n = len(source)
        if len(hypothesis.tokens) != n:
            continue
        # attention: [n + 1, n], one row per emitted token plus the EOS step
        looked_at = hypothesis.attention[:n].argmax(dim=-1).tolist()
        hits += sum(position == n - 1 - t for t, position in enumerate(looked_at))
        steps += n
    return hits / steps if steps else None


def _test_pairs(quick: bool) -> list[tuple[list[int], list[int]]]:
    return make_pairs(200 if quick else 1000, seed=10_000)


def claim_model_families(quick: bool = True) -> dict:
    """Every family trained alike; BLEU and exact match per family, beam vs greedy."""
    settings = TrainSettings(steps=150 if quick else 1500)
    test = _test_pairs(quick)
    figures: dict = {"steps": settings.steps, "batch": BATCH, "task": "reverse 2-9 symbols"}
    per_family = {}
    for family in FAMILIES:
        model, losses = train_family(family, settings)
        per_family[family] = {**score_model(model, test), "final_train_loss": losses[-1]}
    figures["families"] = per_family
    # The layout of results/translation.json, so entries read either source alike.
    figures["test"] = {"copy": _copy_baseline(test)} | {
        f: {"bleu": s["greedy_bleu"], "chrf": s["greedy_chrf"]} for f, s in per_family.items()
    }
    figures["bleu"] = {f: s["greedy_bleu"] for f, s in per_family.items()}
    figures["exact_match"] = {f: s["greedy_exact_match"] for f, s in per_family.items()}
    # Beam search maximises the model's own score; it should never find a worse one.
    figures["beam_minus_greedy_log_prob"] = {
        f: s["beam_mean_log_prob"] - s["greedy_mean_log_prob"] for f, s in per_family.items()
    }
    figures["beam_minus_greedy_bleu"] = {
        f: s["beam_bleu"] - s["greedy_bleu"] for f, s in per_family.items()
    }
    figures["min_beam_minus_greedy_log_prob"] = min(figures["beam_minus_greedy_log_prob"].values())
    return figures


def _copy_baseline(pairs) -> dict:
    """Scores of handing the source back unchanged: the floor every model should beat."""
    outputs = [" ".join(map(str, source)) for source, _ in pairs]
    references = [" ".join(map(str, target)) for _, target in pairs]
    return {
        "bleu": corpus_bleu(outputs, references).score,
        "chrf": corpus_chrf(outputs, references).score,
    }


def claim_label_smoothing(quick: bool = True) -> dict:
    """The Transformer with and without label smoothing 0.1: test NLL and accuracy."""
    steps = 150 if quick else 1500
    test = _test_pairs(quick)
    figures: dict = {"steps": steps}
    for name, smoothing in (("plain", 0.0), ("smoothed", 0.1)):
        model, _ = train_family("transformer", TrainSettings(steps, label_smoothing=smoothing))
        figures[name] = score_model(model, test)
    figures["nll_smoothed_minus_plain"] = (
        figures["smoothed"]["nll_per_token"] - figures["plain"]["nll_per_token"]
    )
    figures["bleu_smoothed_minus_plain"] = (
        figures["smoothed"]["greedy_bleu"] - figures["plain"]["greedy_bleu"]
    )
    return figures


def claim_warmup(quick: bool = True) -> dict:
    """A post-norm Transformer at a high peak lr, with and without a linear warm-up."""
    steps = 150 if quick else 1500
    params = {**FAMILIES["transformer"], "norm_first": False}
    test = _test_pairs(quick)
    figures: dict = {"steps": steps, "peak_lr": 1e-2, "norm_first": False}
    for name, warmup in (("no_warmup", 0), ("warmup", steps // 3)):
        settings = TrainSettings(steps, lr=1e-2, warmup_steps=warmup)
        model, losses = train_family("transformer", settings, params)
        tail = losses[-10:]
        figures[name] = {
            "warmup_steps": warmup,
            "final_train_loss": sum(tail) / len(tail) if all(map(math.isfinite, tail)) else None,
            **score_model(model, test),
        }
    figures["bleu_warmup_minus_none"] = (
        figures["warmup"]["greedy_bleu"] - figures["no_warmup"]["greedy_bleu"]
    )
    return figures
