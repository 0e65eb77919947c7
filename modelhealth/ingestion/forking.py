"""Objects a child made by ``os.fork()`` inherits but must not use: DuckDB's.

A DuckDB file takes one writing process, and a DuckDB connection does not survive a fork:
a child's copy wrote through its parent's connection, and checkpointed a stale copy of the
database into the parent's file when it was freed. Both the SDK (a Monitor's sink) and the
store (:class:`~modelhealth.store.duckdb.DuckDBStore`) use these helpers, so this module
imports neither.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("modelhealth.ingestion.sdk")  # the SDK's lines, wherever they are made


def never_finalize(obj: object) -> None:
    """Keep ``obj`` alive until the process ends, past interpreter shutdown (which frees
    what module globals hold). For a forked child's copy of its parent's DuckDB sink, store
    or connection: when the copied connection was freed at the child's exit, DuckDB
    checkpointed its stale copy of the database into the file the parent was writing, and
    the next open failed ("Corrupt database file: computed checksum ... does not match").
    Best effort: without ctypes' C API (not CPython) only a module-level reference is kept."""
    _PINNED.append(obj)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    except Exception:
        log.debug("modelhealth: could not pin an inherited object", exc_info=True)


_PINNED: list[object] = []
"""What a forked child inherited and must never finalize (see :func:`never_finalize`)."""


def single_process(sink: object) -> bool:
    """Whether ``sink`` may only be written by the process that made it, as it says with
    ``single_process = True``: a DuckDB sink (a DuckDB file takes one writing process, and
    a connection does not survive a fork)."""
    try:
        return getattr(sink, "single_process", None) is True  # not any truthy attribute
    except Exception:
        return False


def inherited(sink: object) -> bool:
    """Whether ``sink`` is single-process and writes through a connection another process
    opened: a DuckDBStore opened before ``os.fork()`` given to a DuckDBSink made in the
    child. Such a sink says which process opened it with ``pid``. A Monitor made around one
    in the child wrote through its parent's connection, as an inherited Monitor did."""
    try:
        pid = getattr(sink, "pid", None)
        return type(pid) is int and pid != os.getpid() and single_process(sink)
    except Exception:
        return False
