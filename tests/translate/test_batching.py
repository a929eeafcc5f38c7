"""Token-budget batches: padding layout, budget, seeded order, DDP shards, resume."""

from __future__ import annotations

import random

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from mlnotebook.translate.batching import TokenBatches, TokenBatchSampler, collate


def _examples(count: int = 500, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    return [
        (
            [rng.randint(4, 50) for _ in range(rng.randint(1, 30))],
            [rng.randint(4, 50) for _ in range(rng.randint(1, 30))],
        )
        for _ in range(count)
    ]


def test_collate_matches_torch_padding():
    examples = [([5, 6, 7], [8, 9]), ([5], [8, 9, 10, 11])]
    batch = collate(examples, pad_id=0, bos_id=2, eos_id=3)
    expected_src = pad_sequence([torch.tensor(s) for s, _ in examples], batch_first=True)
    assert torch.equal(batch.src, expected_src)
    assert batch.tgt_in.tolist() == [[2, 8, 9, 0, 0], [2, 8, 9, 10, 11]]
    assert batch.tgt_out.tolist() == [[8, 9, 3, 0, 0], [8, 9, 10, 11, 3]]
    assert torch.equal(batch.src_padding_mask, expected_src == 0)
    assert batch.tgt_padding_mask.tolist() == [[False] * 3 + [True] * 2, [False] * 5]
    assert batch.num_target_tokens == 8


def test_batches_cover_every_example_once_within_budget():
    examples = _examples()
    lengths = [(len(s), len(t)) for s, t in examples]
    sampler = TokenBatchSampler(lengths, max_tokens=300, seed=1)
    batches = sampler.global_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(len(examples)))
    for indices in batches:
        cost = len(indices) * (
            max(lengths[i][0] for i in indices) + max(lengths[i][1] for i in indices) + 1
        )
        assert cost <= 300 or len(indices) == 1


def test_oversized_example_gets_its_own_batch():
    sampler = TokenBatchSampler([(50, 50), (1, 1)], max_tokens=10, shuffle=False)
    assert sorted(sampler.global_batches(0)) == [[0], [1]]


def test_order_is_a_function_of_seed_and_epoch():
    lengths = [(len(s), len(t)) for s, t in _examples()]
    a = TokenBatchSampler(lengths, 300, seed=7)
    b = TokenBatchSampler(lengths, 300, seed=7)
    assert a.global_batches(3) == b.global_batches(3)
    assert a.global_batches(3) != a.global_batches(4)
    assert a.global_batches(3) != TokenBatchSampler(lengths, 300, seed=8).global_batches(3)
    a.set_epoch(5)
    b.load_state_dict(a.state_dict())
    assert list(a) == list(b)


def test_ranks_take_disjoint_interleaved_shares():
    lengths = [(len(s), len(t)) for s, t in _examples()]
    world = 3
    shards = [TokenBatchSampler(lengths, 200, seed=2, rank=r, world_size=world) for r in range(3)]
    global_order = shards[0].global_batches(1)
    per_rank = [s.rank_batches(1) for s in shards]
    assert len({len(p) for p in per_rank}) == 1
    usable = len(global_order) - len(global_order) % world
    for rank, batches in enumerate(per_rank):
        assert batches == global_order[rank:usable:world]
    with pytest.raises(ValueError, match="rank"):
        TokenBatchSampler(lengths, 200, rank=3, world_size=3)


def test_resumed_epoch_continues_with_the_same_batches():
    source = TokenBatches(_examples(), max_tokens=250, seed=4)
    full = source.rank_epoch_batches(2)
    resumed = source.rank_epoch_batches(2, start=5)
    assert len(resumed) == len(full) - 5
    assert torch.equal(resumed[0].src, full[5].src)
    assert torch.equal(source.epoch_batches(2)[0].tgt_out, full[0].tgt_out)
