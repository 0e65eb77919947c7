"""The process-wide hooks of the SDK: at ``os.fork()`` and at interpreter exit, over every
Monitor alive (:data:`OPEN_MONITORS`, which each Monitor joins when it is made)."""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelhealth.ingestion.sdk import Monitor

log = logging.getLogger("modelhealth.ingestion.sdk")  # the SDK's lines, wherever they are made

OPEN_MONITORS: weakref.WeakSet[Monitor] = weakref.WeakSet()
"""Every Monitor alive (weakly held: the exit hook keeps none alive), for :func:`_close_at_exit`."""


_FORK_LOCKED: list[Monitor] = []
"""Monitors whose ``_lock`` the forking thread holds during ``os.fork()`` (see below)."""


def _before_fork() -> None:
    """Hold every Monitor's buffer lock across ``os.fork()``: the child then copies buffers
    no request thread is changing (the lock is only ever held briefly, never over a sink)."""
    _FORK_LOCKED[:] = list(OPEN_MONITORS)
    for mon in _FORK_LOCKED:
        mon._lock.acquire()


def _after_fork_in_parent() -> None:
    for mon in _FORK_LOCKED:
        mon._lock.release()
    _FORK_LOCKED.clear()


def _after_fork_in_child() -> None:
    """Every Monitor of the parent starts over in the child (see :meth:`Monitor._forked`)."""
    _FORK_LOCKED.clear()
    for mon in list(OPEN_MONITORS):
        mon._forked()


if hasattr(os, "register_at_fork"):  # POSIX only; nothing forks elsewhere
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


@atexit.register
def _close_at_exit() -> None:
    """Close, at interpreter exit, every Monitor that still holds rows (never closed, or
    whose ``close()`` failed).

    A model server that exits without ``close()`` (no shutdown hook) lost everything
    buffered since the last flush, up to ``flush_interval`` of traffic, without a word
    (QA). Requests that log after a ``close()`` that succeeded are refused, counted in
    ``stats.dropped_rows`` and warned of (see :meth:`Monitor.close`): their sink is closed,
    so this hook had stored them with DuckDB and failed them with Kafka. Errors are logged,
    never raised: the process is exiting. A sink whose client closes itself at exit flushes
    its Monitors earlier, from its own hook (:func:`flush_monitors_at_exit`); those are not
    tried again here.
    """
    for mon in list(OPEN_MONITORS):
        if mon._exit_tried or not mon._pending():  # nothing to lose, or tried already
            continue
        try:
            mon.close()
        except Exception:
            log.exception(
                "modelhealth: could not flush a Monitor at exit; its buffered rows are lost"
            )


def flush_monitors_at_exit(sink: object, wait_s: float) -> bool:
    """Flush, at interpreter exit, every Monitor writing to ``sink``; whether all flushed.

    For a sink whose client closes itself at exit: kafka-python registers an exit hook
    closing each producer when it makes it, and atexit runs the newest hook first, so
    :func:`_close_at_exit` (registered at import) found the producer closed and the rows
    lost. Such a sink calls this from an exit hook registered after its client's, then
    closes itself. A background flusher still busy with the sink after ``wait_s`` is left
    to it (the process is exiting; the sink bounds its own waits). Errors are logged, never
    raised; the Monitors are not closed (several may share the sink, closed once after)."""
    ok = True
    for mon in list(OPEN_MONITORS):
        if mon.sink is not sink:
            continue
        mon._exit_tried = True
        try:
            mon._stop_flusher(wait_s)
            if mon._pending():
                mon.flush()
        except Exception:
            ok = False
            log.exception(
                "modelhealth: could not flush a Monitor at exit; its buffered rows are lost"
            )
    return ok
