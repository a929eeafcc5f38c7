"""Data-parallel training across processes, or none: the same code runs either way.

Under `torchrun` every process gets RANK, WORLD_SIZE and LOCAL_RANK in its
environment. Each process holds a full copy of the model; each global batch is
split by rows (process r takes rows r, r + W, r + 2W, ...), every process
computes gradients on its rows, and DistributedDataParallel averages them so
all copies take the same step. The backend is NCCL on GPUs and Gloo on CPUs.
Without those variables there is one process and every helper is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """'auto' means this process's GPU when there is one, else the CPU."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={preference!r} but no CUDA GPU is available")
    return device


def setup_distributed(device_preference: str) -> tuple[DistContext, torch.device]:
    """Join the process group torchrun described, or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), pick_device(device_preference)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = pick_device(device_preference, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank), device


def settle(context: DistContext) -> None:
    """Wait, with the GIL released, until every process has got here.

    Called once training ends normally, before the process group goes away.
    Gloo's worker threads free each finished collective's tensors themselves,
    and a tensor made in Python (all_gather_object's) needs the GIL to be
    freed. The group itself is destroyed later, in DDP's reducer's destructor,
    which joins those threads while holding the GIL: if a worker was still
    freeing the last gather's tensors then, both waited forever (seen in 2 of
    5 runs of test_ddp: the non-main process, which leaves `_save` at once
    while the main one writes the checkpoint). Waiting here for the main
    process gives the workers that time with the GIL free.
    """
    if context.active:
        dist.barrier()


def teardown_distributed(context: DistContext) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    if context.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def agree_max(value: float, context: DistContext, device: torch.device) -> float:
    """The largest of every process's `value`, on every process (one clock for all)."""
    if not context.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def gather_objects(value: Any, context: DistContext) -> list[Any]:
    """Every process's `value`, in rank order (a one-item list when alone)."""
    if not context.active:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shard_rows(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Rows rank, rank + W, rank + 2W, ... of a global batch [B, ...]."""
    return tensor[context.rank :: context.world_size] if context.active else tensor
