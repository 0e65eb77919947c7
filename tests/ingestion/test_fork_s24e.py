"""A Monitor made before ``os.fork()`` works in the child, as in a pre-fork model server
(gunicorn with ``preload_app``): each worker flushes what it logs, from a background flusher
of its own, never a copy of the parent's buffered rows, and never waits on a lock a parent
thread held at the fork."""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class Recorder:
    """Keeps the request ids of every inference row written."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def write(self, batch: EventBatch) -> None:
        self.ids += list(batch.inferences["request_id"])

    def close(self) -> None:
        pass


def _log(mon: Monitor, rid: str) -> bool:
    return mon.log(
        model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0, request_id=rid
    )


def _in_child(work: Callable[[], dict[str, object]], timeout_s: float = 20.0) -> dict | None:
    """Run ``work`` in a forked child; its result, or None if it did not finish in time
    (the child is then killed)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        os.close(read)
        try:
            result = work()
        except BaseException as exc:
            result = {"error": repr(exc)}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], timeout_s)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            return None
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        return json.loads(b"".join(chunks))
    finally:
        os.close(read)
        os.waitpid(pid, 0)


def _wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_background_flusher_runs_in_the_child() -> None:
    """The child's rows are written while it runs (the parent's flusher thread does not
    exist there), and none is refused as if the sink failed."""
    sink = Recorder()
    mon = Monitor(sink, background=True, flush_interval=timedelta(milliseconds=50))

    def child() -> dict[str, object]:
        for i in range(20):
            _log(mon, f"child-{i}")
        flushed = _wait_for(lambda: len(sink.ids) == 20)
        return {"flushed": flushed, "dropped": mon.stats.dropped_rows}

    try:
        assert _in_child(child) == {"flushed": True, "dropped": 0}
    finally:
        mon.close()


def test_the_parents_buffered_rows_are_not_written_by_the_child() -> None:
    """Rows the parent buffered before the fork are flushed by the parent only (each child
    wrote a copy of them), and the child's counters count only its own rows."""
    sink = Recorder()
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    for i in range(3):
        _log(mon, f"parent-{i}")

    def child() -> dict[str, object]:
        _log(mon, "child-0")
        mon.close()
        return {"ids": sink.ids, "accepted": mon.stats.accepted}

    assert _in_child(child) == {"ids": ["child-0"], "accepted": 1}
    mon.close()
    assert sink.ids == ["parent-0", "parent-1", "parent-2"]


def test_fork_while_another_thread_holds_the_buffer_lock() -> None:
    """A parent thread inside the Monitor's lock at the fork (a request thread buffering,
    the flusher swapping buffers) does not leave the child's Monitor locked forever."""
    sink = Recorder()
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with mon._lock:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    threading.Timer(0.2, release.set).start()  # the fork waits for the lock, then proceeds

    def child() -> dict[str, object]:
        ok = _log(mon, "child-0")
        mon.close()
        return {"logged": ok, "ids": sink.ids}

    try:
        assert _in_child(child, timeout_s=10) == {"logged": True, "ids": ["child-0"]}
    finally:
        release.set()
        thread.join()
        mon.close()
