"""Greedy and beam search, written once for every model through the seq2seq interface.

Both searches only call `encode`, `decode_step` and `reorder_state`
(`mlnotebook/nn/SEQ2SEQ_API.md`), so the recurrent models and the Transformer
share them.

Greedy search emits the most likely next token until EOS. Beam search keeps the
`beam` best partial translations per sentence instead of one. All sentences and
all their beams run as rows of a single batch of `batch * beam` rows; after each
step `reorder_state` copies the decoder state of the beams that survived.

Each step extends every alive beam by every token and keeps the best `2 * beam`
candidates. A candidate that ends in EOS and ranks within the first `beam` is a
finished translation; the best non-EOS candidates stay alive (there are always
at least `beam` of them among `2 * beam`). Finished translations are compared by
their length-normalised score (GNMT, Wu et al. 2016):

    score(Y) = log P(Y | X) / lp(Y),   lp(Y) = ((5 + |Y|) / 6)^alpha

A sentence is done once it has `beam` finished translations and the worst of
them scores at least as well as the best score an alive beam could still reach.
Two rules for that bound (`stopping=`):

* "bound" (the default): an alive beam's log-probability can only fall as it
  grows, and lp grows with length, so no continuation can score above
  log P(prefix) / lp(cap), its score divided by the penalty at the sentence's
  length cap. Stopping only when the finished beat that never drops a
  translation the search would have preferred.
* "current": the alive beam normalised at the current length, log P / lp(t)
  (the rule of Hugging Face's default and OpenNMT's searches). With alpha > 0
  it stops while a longer beam could still overtake, which cuts translations
  short when the model gives the end of sentence some probability everywhere.

With alpha = 0 both rules are the same, and with one beam the search is then
exactly greedy: the EOS candidate is finished only when it is the top choice,
and nothing alive can beat it.

Three things keep the searches fast without changing what they return (the
third to float32 rounding):

* A sentence that is done leaves the batch (`drop_finished=True`, as CTranslate2
  does): its rows are dropped from the decoder state with `reorder_state`, and
  `sentence` maps the rows still decoding back to their place in the input.
  `drop_finished=False` keeps every row to the end; it is the plain version the
  tests compare against.
* Attention maps are only gathered when asked (`with_attention=True`): otherwise
  the search copies no attention history from step to step.
* A search runs inside `packed_weights()` (nn/packed_linear.py): the model's
  projections multiply on weights laid out once for the CPU's matrix multiply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import torch
from torch import Tensor, nn

from mlnotebook.nn.packed_linear import packed_weights

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass
class Hypothesis:
    """One translation: token ids (no BOS/EOS), its total log-probability, and
    the attention over the source per emitted token [len(tokens) + 1, S] (the +1
    row is the EOS step), or None for a model without attention."""

    tokens: list[int]
    log_prob: float
    score: float
    attention: Tensor | None


STOPPING_RULES = ("bound", "current")


def length_penalty(length: Tensor | float, alpha: float) -> Tensor | float:
    """GNMT's lp = ((5 + length) / 6)^alpha; alpha = 0 gives 1 (raw log-probabilities)."""
    return ((5.0 + length) / 6.0) ** alpha


def max_output_length(src: Tensor, pad_id: int, a: float, b: int) -> Tensor:
    """Cap on generated tokens per sentence: a * (its real source length) + b. -> [B]

    Per sentence, not per batch, so a translation never depends on its batch-mates.
    """
    # src: [B, S]
    src_lengths = (src != pad_id).sum(dim=1)
    return (a * src_lengths.float()).long() + b


def _caps(max_len: int | Tensor, batch: int, device: torch.device) -> Tensor:
    """The length cap as one integer per sentence: [B]."""
    if isinstance(max_len, Tensor):
        return max_len.to(device=device, dtype=torch.long).clamp(min=1)
    return torch.full((batch,), max(int(max_len), 1), dtype=torch.long, device=device)


def _trim_attention(attention: Tensor | None, src_row: Tensor, pad_id: int) -> Tensor | None:
    """Drop the padded source columns: [T, S] -> [T, real source length]."""
    if attention is None:
        return None
    return attention[:, : int((src_row != pad_id).sum().item())].cpu()


def _decoding(search: Callable[_P, _R]) -> Callable[_P, _R]:
    """A search runs without autograd and on pre-packed weights (`nn.packed_linear`):
    the model's weights stand still for the whole search."""

    @functools.wraps(search)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with torch.no_grad(), packed_weights():
            return search(*args, **kwargs)

    return run


@_decoding
def greedy_search(
    model: nn.Module,
    src: Tensor,
    max_len: int | Tensor,
    with_attention: bool = True,
    drop_finished: bool = True,
) -> list[Hypothesis]:
    """Pick the most likely token at each step. src: [B, S] -> one Hypothesis per row.

    max_len: the cap on emitted tokens, one int for all rows or [B] per row.
    """
    batch, device = src.size(0), src.device
    caps = _caps(max_len, batch, device)
    steps = int(caps.max())
    state = model.encode(src, with_attention=with_attention)
    # Filled in place, row by row: rows past their EOS (or dropped) keep the padding.
    token_table = torch.full((batch, steps), model.pad_id, dtype=torch.long, device=device)
    attention_table: Tensor | None = None  # [B, steps, S], made at the first map
    log_probs = torch.zeros(batch, device=device)
    sentence = torch.arange(batch, device=device)  # [A] the input row of each decoding row
    prev = torch.full((batch,), model.bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)  # [A]
    for step in range(steps):
        step_log_probs, state, attention = model.decode_step(state, prev)
        # step_log_probs: [A, V]
        best_log_prob, prev = step_log_probs.max(dim=-1)
        # A row already past EOS (kept with drop_finished=False) emits padding at no cost.
        prev = prev.masked_fill(finished, model.pad_id)
        log_probs[sentence] += best_log_prob.masked_fill(finished, 0.0)
        token_table[sentence, step] = prev
        if with_attention and attention is not None:
            if attention_table is None:
                attention_table = attention.new_zeros(batch, steps, attention.size(-1))
            attention_table[sentence, step] = attention
        finished |= (prev == model.eos_id) | (caps[sentence] <= step + 1)
        if bool(finished.all()):
            break
        if drop_finished and bool(finished.any()):
            keep = (~finished).nonzero().flatten()  # [A'] rows still decoding
            state = model.reorder_state(state, keep)
            sentence, prev, finished = sentence[keep], prev[keep], finished[keep]
    token_rows = token_table.tolist()  # [B, steps]
    return [
        _greedy_hypothesis(
            token_rows[row][: int(caps[row])],
            float(log_probs[row]),
            None if attention_table is None else attention_table[row],
            src[row],
            model,
        )
        for row in range(batch)
    ]


def _greedy_hypothesis(
    row_tokens: list[int], log_prob: float, attention: Tensor | None, src_row: Tensor, model
) -> Hypothesis:
    length = row_tokens.index(model.eos_id) + 1 if model.eos_id in row_tokens else len(row_tokens)
    if attention is not None:
        attention = _trim_attention(attention[:length], src_row, model.pad_id)
    words = [t for t in row_tokens[:length] if t != model.eos_id]
    return Hypothesis(words, log_prob, log_prob, attention)


@dataclass
class _Finished:
    """Finished translations per sentence: the `beam` best normalised scores, and
    the tokens and attention of the best one (the only one returned)."""

    kept_scores: Tensor  # [B, beam], best first
    score: Tensor  # [B]
    log_prob: Tensor  # [B]
    tokens: list[list[int] | None]
    attention: list[Tensor | None]

    @classmethod
    def empty(cls, batch: int, beam: int, device: torch.device) -> _Finished:
        def minus_inf() -> Tensor:
            return torch.full((batch,), float("-inf"), device=device)

        kept_scores = torch.full((batch, beam), float("-inf"), device=device)
        return cls(kept_scores, minus_inf(), minus_inf(), [None] * batch, [None] * batch)

    def select(self, keep: Tensor, keep_list: list[int]) -> _Finished:
        """The sentences `keep` ([B'] and the same as a list), in that order."""
        return _Finished(
            self.kept_scores[keep],
            self.score[keep],
            self.log_prob[keep],
            [self.tokens[i] for i in keep_list],
            [self.attention[i] for i in keep_list],
        )

    def hypothesis(self, b: int, src_row: Tensor, pad_id: int) -> Hypothesis:
        return Hypothesis(
            self.tokens[b] or [],
            float(self.log_prob[b]),
            float(self.score[b]),
            _trim_attention(self.attention[b], src_row, pad_id),
        )


@dataclass
class _Alive:
    """The beams still growing, per sentence."""

    log_probs: Tensor  # [B, beam] log P(prefix)
    tokens: Tensor  # [B, beam, t] the prefixes (without BOS)
    attention: Tensor | None  # [B, beam, t, S]

    def select(self, keep: Tensor) -> _Alive:
        attention = None if self.attention is None else self.attention[keep]
        return _Alive(self.log_probs[keep], self.tokens[keep], attention)


@dataclass
class _Candidates:
    """The best 2 * beam one-token extensions of the alive beams, best first."""

    log_probs: Tensor  # [B, 2 beam]
    origin: Tensor  # [B, 2 beam] which alive beam each extends
    token: Tensor  # [B, 2 beam] the token it adds
    attention: Tensor | None  # [B, 2 beam, 1, S] attention of that step


@dataclass
class _Batch:
    """The sentences still being searched: for each, its row in the input, its cap,
    its finished and alive beams, and whether it is done."""

    sentence: Tensor  # [A] index into the input batch
    caps: Tensor  # [A]
    finished: _Finished
    alive: _Alive
    done: Tensor  # [A] bool

    def select(self, keep: Tensor) -> _Batch:
        return _Batch(
            self.sentence[keep],
            self.caps[keep],
            self.finished.select(keep, keep.tolist()),
            self.alive.select(keep),
            self.done[keep],
        )


@_decoding
def beam_search(
    model: nn.Module,
    src: Tensor,
    beam: int,
    max_len: int | Tensor,
    alpha: float = 0.0,
    with_attention: bool = True,
    drop_finished: bool = True,
    stopping: str = "bound",
) -> list[Hypothesis]:
    """Batched beam search with GNMT length penalty. src: [B, S] -> best Hypothesis per row.

    max_len: the cap on emitted tokens, one int for all rows or [B] per row.
    stopping: "bound" or "current", when a sentence is done (see the module doc).
    """
    if stopping not in STOPPING_RULES:
        raise ValueError(f"stopping: expected one of {', '.join(STOPPING_RULES)}, got {stopping!r}")
    batch, device = src.size(0), src.device
    caps = _caps(max_len, batch, device)
    # Every sentence becomes `beam` consecutive rows: row b * beam + k.
    state = model.encode(src, with_attention=with_attention)
    state = model.reorder_state(state, torch.arange(batch, device=device).repeat_interleave(beam))
    search = _Batch(
        sentence=torch.arange(batch, device=device),
        caps=caps,
        finished=_Finished.empty(batch, beam, device),
        alive=_start(batch, beam, device),
        done=torch.zeros(batch, dtype=torch.bool, device=device),
    )
    results: list[Hypothesis | None] = [None] * batch
    prev = torch.full((batch * beam,), model.bos_id, dtype=torch.long, device=device)
    for step in range(int(caps.max())):
        step_log_probs, state, attention = model.decode_step(state, prev)
        attention = attention if with_attention else None
        origin = _advance(
            search, step_log_probs, attention, step + 1, model.eos_id, alpha, stopping
        )
        if bool(search.done.all()):
            break
        # rows[b, k]: the row whose decoder state beam k of sentence b continues
        rows = origin + torch.arange(origin.size(0), device=device)[:, None] * beam
        if drop_finished and bool(search.done.any()):
            _emit(results, search, search.done, src, model.pad_id)
            keep = (~search.done).nonzero().flatten()
            search, rows = search.select(keep), rows[keep]
        state = model.reorder_state(state, rows.view(-1))
        prev = search.alive.tokens[:, :, -1].reshape(-1)  # [A * beam]
    _emit(results, search, torch.ones_like(search.done), src, model.pad_id)
    return results  # type: ignore[return-value]


def _advance(
    search: _Batch,
    step_log_probs: Tensor,
    attention: Tensor | None,
    length: int,
    eos_id: int,
    alpha: float,
    stopping: str,
) -> Tensor:
    """One step of every sentence: extend, collect finished, keep the best alive, mark done.

    Returns origin [A, beam]: the previous alive beam each new alive beam extends.
    """
    candidates = _expand(search.alive, step_log_probs, attention)
    last_step = search.caps == length  # [A] sentences at their cap
    _collect_finished(
        search.finished, search.done, candidates, search.alive, length, alpha, eos_id, last_step
    )
    search.alive, origin = _select_alive(candidates, search.alive, eos_id)
    # The longest any alive beam may still grow: its cap ("bound"), or now ("current").
    horizon = search.caps.to(search.alive.log_probs.dtype) if stopping == "bound" else length
    best_alive_loses = _sentence_done(
        search.finished.kept_scores, search.alive.log_probs, horizon, alpha
    )
    search.done = search.done | best_alive_loses | last_step
    return origin


def _emit(results: list, search: _Batch, which: Tensor, src: Tensor, pad_id: int) -> None:
    """Write the best finished translation of the sentences `which` [A] into results."""
    for b in which.nonzero().flatten().tolist():
        index = int(search.sentence[b])
        results[index] = search.finished.hypothesis(b, src[index], pad_id)


def _start(batch: int, beam: int, device: torch.device) -> _Alive:
    # Only beam 0 is real at the start; the copies start at -inf so they are never chosen.
    log_probs = torch.full((batch, beam), float("-inf"), device=device)
    log_probs[:, 0] = 0.0
    tokens = torch.zeros((batch, beam, 0), dtype=torch.long, device=device)
    return _Alive(log_probs, tokens, None)


def _expand(alive: _Alive, step_log_probs: Tensor, attention: Tensor | None) -> _Candidates:
    """Score every one-token extension and keep the best 2 * beam per sentence."""
    batch, beam = alive.log_probs.shape
    vocab = step_log_probs.size(-1)
    # scores: [B, beam * V] = log P(prefix) + log P(token | prefix)
    scores = alive.log_probs[:, :, None] + step_log_probs.view(batch, beam, vocab)
    log_probs, index = scores.view(batch, beam * vocab).topk(min(2 * beam, beam * vocab), dim=1)
    origin = torch.div(index, vocab, rounding_mode="floor")
    cand_attention = None
    if attention is not None:
        step_attention = attention.view(batch, beam, 1, -1)  # [B, beam, 1, S]
        cand_attention = _gather_beams(step_attention, origin)
    return _Candidates(log_probs, origin, index % vocab, cand_attention)


def _select_alive(candidates: _Candidates, alive: _Alive, eos_id: int) -> tuple[_Alive, Tensor]:
    """The best `beam` candidates that did not end in EOS, and the beams they came from."""
    beam = alive.log_probs.size(1)
    keep_score = candidates.log_probs.masked_fill(candidates.token == eos_id, float("-inf"))
    log_probs, keep = keep_score.topk(beam, dim=1)  # [B, beam]
    origin = candidates.origin.gather(1, keep)  # [B, beam]
    new_token = candidates.token.gather(1, keep)  # [B, beam]
    tokens = torch.cat([_gather_beams(alive.tokens, origin), new_token[..., None]], dim=2)
    attention = None
    if candidates.attention is not None:
        new_attention = _gather_beams(candidates.attention, keep)  # [B, beam, 1, S]
        history = [] if alive.attention is None else [_gather_beams(alive.attention, origin)]
        attention = torch.cat([*history, new_attention], dim=2)
    return _Alive(log_probs, tokens, attention), origin


def _gather_beams(table: Tensor, origin: Tensor) -> Tensor:
    """table: [B, beam, ...], origin: [B, K] -> [B, K, ...] rows picked per sentence."""
    index = origin.view(*origin.shape, *([1] * (table.dim() - 2))).expand(
        *origin.shape, *table.shape[2:]
    )
    return table.gather(1, index)


def _sentence_done(
    kept_scores: Tensor, alive_log_probs: Tensor, horizon: Tensor | int, alpha: float
) -> Tensor:
    """Done when the worst of `beam` finished beats the best alive beam normalised at
    `horizon` ([A] lengths, or one length): log P(prefix) / lp(horizon)."""
    if isinstance(horizon, int):
        horizon = float(horizon)
    best_alive = alive_log_probs.max(dim=1).values / length_penalty(horizon, alpha)
    return kept_scores[:, -1] >= best_alive


def _collect_finished(
    finished: _Finished,
    done: Tensor,
    candidates: _Candidates,
    alive: _Alive,
    length: int,
    alpha: float,
    eos_id: int,
    last_step: Tensor,
) -> None:
    """Move EOS candidates ranked within the top `beam` into the finished pool.

    On a sentence's last allowed step every top candidate counts as finished, EOS or not.
    """
    beam = alive.log_probs.size(1)
    rank = torch.arange(candidates.token.size(1), device=candidates.token.device)[None, :]
    ends = (candidates.token == eos_id) | last_step[:, None]
    eligible = ends & (rank < beam) & ~done[:, None]
    # score = log P / ((5 + |Y|) / 6)^alpha, |Y| counted with the EOS token
    normalised = candidates.log_probs / length_penalty(float(length), alpha)
    normalised = normalised.masked_fill(~eligible, float("-inf"))
    merged = torch.cat([finished.kept_scores, normalised], dim=1)
    finished.kept_scores = torch.where(
        done[:, None], finished.kept_scores, merged.topk(beam, dim=1).values
    )
    best_score, best_index = normalised.max(dim=1)  # [B]
    for b in (best_score > finished.score).nonzero().flatten().tolist():
        i = int(best_index[b])
        origin = int(candidates.origin[b, i])
        token = int(candidates.token[b, i])
        finished.tokens[b] = alive.tokens[b, origin].tolist() + ([] if token == eos_id else [token])
        finished.score[b] = best_score[b]
        finished.log_prob[b] = candidates.log_probs[b, i]
        if candidates.attention is not None:
            history = [] if alive.attention is None else [alive.attention[b, origin]]
            finished.attention[b] = torch.cat([*history, candidates.attention[b, i]], dim=0)


def translate_ids(
    model: nn.Module,
    src: Tensor,
    beam: int,
    max_len: int | Tensor,
    alpha: float = 0.0,
    with_attention: bool = True,
    stopping: str = "bound",
) -> list[Hypothesis]:
    """Greedy when beam == 1 (the cheaper loop), beam search otherwise."""
    if beam == 1:
        return greedy_search(model, src, max_len, with_attention)
    return beam_search(model, src, beam, max_len, alpha, with_attention, stopping=stopping)
