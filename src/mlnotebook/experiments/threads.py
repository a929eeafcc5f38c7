"""A context for experiments on tiny tensors: run them on one thread.

At these sizes one thread is as fast as several, and it leaves the machine's
other cores to whatever else is running.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
