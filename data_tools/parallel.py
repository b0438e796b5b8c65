"""Ordered, bounded map over worker processes.

`multiprocessing.Pool.imap` would keep the output order, but its feeder thread drains the input
iterator as fast as it can, so a 50 GB JSONL would be read into memory ahead of the workers.
Here at most `max_pending` chunks are in flight; results come back in submission order, so
the output of a run does not depend on the number of workers.

Workers are started with "spawn": a fresh interpreter that imports only data_tools, inherits no
threads, open files or (if a caller imported it) CUDA state, and behaves the same on every OS.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from itertools import chain, islice
from typing import Any, Callable, Iterable, Iterator


def map_ordered(init: Callable[[Any], None], init_arg: Any, work: Callable[[Any], Any],
                items: Iterable, workers: int, max_pending: int | None = None) -> Iterator:
    """Yield work(item) for each item, in order. `init(init_arg)` runs once per worker first.

    `init` and `work` must be module-level functions (they are pickled by name). With
    workers == 1, or when there is only one item (one chunk cannot be shared out, and starting
    processes costs about a second), everything runs in this process.
    """
    items = iter(items)
    head = list(islice(items, 2))
    if workers <= 1 or len(head) < 2:
        init(init_arg)
        for item in chain(head, items):
            yield work(item)
        return
    max_pending = max_pending or 2 * workers
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init, initargs=(init_arg,)) as pool:
        pending: deque = deque()
        for item in chain(head, items):
            pending.append(pool.apply_async(work, (item,)))
            if len(pending) >= max_pending:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
