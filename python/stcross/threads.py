"""Torch's intra-op thread count for the duration of one call, restored afterwards.

The default of one thread is measured (benchmarks/REPORT.md, "Threads"): stcross's layers
are small, so a second thread saves only 13-17% on a quiet machine, while torch's worker threads
spin-wait, which makes a two-thread run 3-4x slower as soon as another process holds a core.
``threads=None`` leaves whatever the caller set.
"""
from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import InputError

DEFAULT_THREADS = 1


def check_threads(threads) -> int | None:
    """``threads`` as a positive int, or None; a clear error otherwise."""
    if threads is None:
        return None
    try:
        value = None if isinstance(threads, bool) else operator.index(threads)
    except TypeError:
        value = None
    if value is None or value < 1:
        msg = f"threads must be a positive integer (or None to keep torch's setting), got {threads!r}."
        raise InputError(msg)
    return value


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads; the caller's count is restored after."""
    threads = check_threads(threads)
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
