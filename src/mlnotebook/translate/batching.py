"""Batches measured in tokens, from length-sorted buckets, in a reproducible order.

Sentences of similar length are batched together so little of each batch is
padding: the examples are sorted by (source length, target length) and cut
into consecutive batches, each as large as the token budget allows. The cost
of a batch is what it occupies once padded, counting source and target:

    cost = B * (S + T),  S = max source length, T = max target length + 1

(the + 1 is the BOS/EOS each target side gains). An example too long for the
budget on its own still gets a batch of one; nothing is dropped.

The order of the batches is shuffled every epoch with a `torch.Generator`
seeded from (seed, epoch), and equal-length examples are shuffled before the
sort, so the same (seed, epoch) always gives the same batches in the same
order: a resumed run recreates its epoch and skips the batches it has done.
Under DDP, every rank builds the same global order and takes every
`world_size`-th batch, after the tail is cut so all ranks take equally many.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mlnotebook.translate.tokenizer import BOS_ID, EOS_ID, PAD_ID

Example = tuple[Sequence[int], Sequence[int]]  # (source ids, target ids), no bos/eos


@dataclass
class Batch:
    src: Tensor  # [B, S] source ids, right-padded with pad_id
    tgt_in: Tensor  # [B, T] BOS + target ids (decoder input)
    tgt_out: Tensor  # [B, T] target ids + EOS (what the decoder must predict)
    src_padding_mask: Tensor  # [B, S] True where src is padding
    tgt_padding_mask: Tensor  # [B, T] True where tgt_in / tgt_out are padding

    @property
    def num_target_tokens(self) -> int:
        return int((~self.tgt_padding_mask).sum())


def _pad(rows: list[list[int]], pad_id: int) -> Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [pad_id] * (width - len(row)) for row in rows], dtype=torch.long)


def collate(
    examples: Sequence[Example], pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID
) -> Batch:
    """Pad a list of (source, target) id lists into one batch."""
    src = _pad([list(s) for s, _ in examples], pad_id)  # [B, S]
    # Teacher forcing: the decoder reads y_0..y_{n-1} = BOS y_1..y_{n-1}, predicts y_1..y_n EOS.
    tgt_in = _pad([[bos_id, *t] for _, t in examples], pad_id)  # [B, T]
    tgt_out = _pad([[*t, eos_id] for _, t in examples], pad_id)  # [B, T]
    return Batch(src, tgt_in, tgt_out, src == pad_id, tgt_out == pad_id)


def _padded_cost(count: int, max_src: int, max_tgt: int) -> int:
    # cost = B * (S + T), with T counting the added BOS/EOS
    return count * (max_src + max_tgt + 1)


def token_batches(
    lengths: Sequence[tuple[int, int]], order: Sequence[int], max_tokens: int
) -> list[list[int]]:
    """Cut `order` (indices, sorted by length) into batches whose padded cost fits the budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    max_src = max_tgt = 0
    for index in order:
        src_len, tgt_len = lengths[index]
        new_src, new_tgt = max(max_src, src_len), max(max_tgt, tgt_len)
        if current and _padded_cost(len(current) + 1, new_src, new_tgt) > max_tokens:
            batches.append(current)
            current, new_src, new_tgt = [], src_len, tgt_len
        current.append(index)
        max_src, max_tgt = new_src, new_tgt
    if current:
        batches.append(current)
    return batches


class TokenBatchSampler:
    """Index batches by token budget; the order is a pure function of (seed, epoch)."""

    def __init__(
        self,
        lengths: Sequence[tuple[int, int]],
        max_tokens: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens: expected a positive token budget, got {max_tokens}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank}")
        self.lengths = list(lengths)
        self.max_tokens, self.seed, self.shuffle = max_tokens, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _generator(self, epoch: int) -> torch.Generator:
        # One stream per (seed, epoch); the large odd multiplier keeps seeds from colliding.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of `epoch`, in the order all ranks agree on."""
        count = len(self.lengths)
        if self.shuffle:
            generator = self._generator(epoch)
            ties = torch.randperm(count, generator=generator).tolist()
        else:
            generator, ties = None, list(range(count))
        # Python's sort is stable, so equal lengths keep the shuffled order.
        order = sorted(ties, key=lambda i: self.lengths[i])
        batches = token_batches(self.lengths, order, self.max_tokens)
        if generator is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator)]
        return batches

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's share: every world_size-th batch, equal counts on every rank."""
        batches = self.global_batches(epoch)
        usable = len(batches) - len(batches) % self.world_size
        return batches[self.rank : usable : self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.rank_batches(self.epoch))

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


class _CollatedBatches(Sequence[Batch]):
    """A list of index batches that pads each batch only when it is asked for."""

    def __init__(self, owner: TokenBatches, batches: list[list[int]]) -> None:
        self.owner, self.batches = owner, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, position):  # type: ignore[override]
        if isinstance(position, slice):
            return _CollatedBatches(self.owner, self.batches[position])
        return self.owner.collate_indices(self.batches[position])


class TokenBatches:
    """Encoded examples plus a sampler: the trainer's `BatchSource` (global batches per epoch)."""

    def __init__(
        self,
        examples: Sequence[Example],
        max_tokens: int,
        seed: int = 0,
        pad_id: int = PAD_ID,
        bos_id: int = BOS_ID,
        eos_id: int = EOS_ID,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.examples = examples
        self.ids = (pad_id, bos_id, eos_id)
        lengths = [(len(s), len(t)) for s, t in examples]
        self.sampler = TokenBatchSampler(
            lengths, max_tokens, seed, rank=rank, world_size=world_size
        )

    def collate_indices(self, indices: list[int]) -> Batch:
        return collate([self.examples[i] for i in indices], *self.ids)

    def epoch_batches(self, epoch: int) -> Sequence[Batch]:
        """All batches of `epoch` in the global order (the trainer splits rows across ranks)."""
        return _CollatedBatches(self, self.sampler.global_batches(epoch))

    def rank_epoch_batches(self, epoch: int, start: int = 0) -> Sequence[Batch]:
        """This rank's batches of `epoch`, from batch `start` on (for a resumed run)."""
        return _CollatedBatches(self, self.sampler.rank_batches(epoch)[start:])
