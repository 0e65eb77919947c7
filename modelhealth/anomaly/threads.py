"""How many threads LightGBM may use, and a pool that keeps that number safe to share.

LightGBM keeps ``num_threads`` in one process-wide variable (``LGBM_DEFAULT_NUM_THREADS``)
that also sizes its per-thread buffers. Two Python threads that call it with different
``num_threads`` at the same time can make one of them index past a buffer: in round 7 a
training run that predicted on two threads while fold classifiers trained on one crashed
with a segmentation fault (about one run in forty). So while :func:`side_by_side` work is
running, and on any thread but the main one, :func:`predict_threads` asks for one thread,
the same as every training call; each call then runs on one core and the pool supplies the
parallelism.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 2
"""Threads of :func:`side_by_side` pools (this box has 2 cores). pandas' rolling windows and
LightGBM release the GIL, so features and models of two series build at once."""
PREDICT_THREADS = 2
"""Threads for LightGBM prediction of large inputs outside pools. Rows are scored
independently, so the output is identical to one thread; round 5 measured 20% off scanning
the NAB files."""
PARALLEL_ROWS = 4096
"""Inputs smaller than this (a scheduler tick's tail) predict on one thread: no thread
start-up cost, and no contention with a scheduler that runs rules side by side."""

_active = 0
_lock = threading.Lock()


def predict_threads(rows: int) -> int:
    """LightGBM ``num_threads`` for predicting ``rows`` rows: :data:`PREDICT_THREADS` for
    large inputs on the main thread while no pool runs, else one (a dashboard session or any
    other worker thread may be calling LightGBM beside it)."""
    if _active or threading.current_thread() is not threading.main_thread():
        return 1
    return PREDICT_THREADS if rows >= PARALLEL_ROWS else 1


@contextmanager
def side_by_side(workers: int = WORKERS) -> Iterator[ThreadPoolExecutor]:
    """A thread pool during whose life every LightGBM call asks for one thread."""
    global _active
    with _lock:
        _active += 1
    try:
        with ThreadPoolExecutor(workers) as pool:
            yield pool
    finally:
        with _lock:
            _active -= 1


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int = WORKERS) -> list[R]:
    """``[fn(x) for x in items]`` on a :func:`side_by_side` pool, in order."""
    with side_by_side(workers) as pool:
        return list(pool.map(fn, items))
