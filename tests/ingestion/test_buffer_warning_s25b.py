"""The "buffers are full while the sink fails" warning says the sink fails only when it did.

With ``background=True`` and ``max_buffered`` below ``max_batch`` the flusher waited for a
batch of ``max_batch`` rows (or ``flush_interval``) that the bounded buffers never let
accumulate: rows beyond ``max_buffered`` were refused with a warning blaming a sink that
never failed. Now such a configuration is named once at construction, the flusher is also
woken when the buffers are full, and rows refused while a healthy sink is being written to
get a warning that says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}
LOGGER = "modelhealth.ingestion.sdk"
SINK_FAILS = "while the sink fails"


class Recorder:
    """A healthy sink: keeps the request ids of every inference row written."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def write(self, batch: EventBatch) -> None:
        self.ids += list(batch.inferences["request_id"])

    def close(self) -> None:
        pass


class GateSink(Recorder):
    """A sink whose write waits for the test's gate, then fails if told to (Kafka slow to
    answer, then found down)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.fail = False

    def write(self, batch: EventBatch) -> None:
        self.entered.set()
        assert self.gate.wait(30)
        if self.fail:
            raise ConnectionError("broker unavailable")
        super().write(batch)


def _wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_max_buffered_below_max_batch_is_named_once_at_construction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning names both settings and what to set instead; a sound configuration and
    a synchronous Monitor (bounded only while the sink fails) get none."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        Monitor(Recorder(), background=True, max_batch=100, max_buffered=10).close()
        Monitor(Recorder(), background=True, max_batch=100, max_buffered=100).close()
        Monitor(Recorder(), max_batch=100, max_buffered=10).close()
    (warning,) = [m for m in _messages(caplog) if "below max_batch" in m]
    assert "max_buffered=10" in warning and "max_batch=100" in warning
    assert "at least max_batch" in warning and "10 x max_batch = 1000" in warning


def test_full_buffers_wake_the_flusher_before_max_batch_rows() -> None:
    """With max_buffered=10 < max_batch=100 the flusher writes when 10 rows wait, not after
    flush_interval (an hour here): no row is refused while the sink is healthy."""
    sink = Recorder()
    mon = Monitor(
        sink, background=True, max_batch=100, max_buffered=10, flush_interval=timedelta(hours=1)
    )
    try:
        for k in range(3):
            assert all(mon.log(**GOOD, request_id=f"r{10 * k + i}") for i in range(10))
            assert _wait_for(lambda k=k: len(sink.ids) == 10 * (k + 1)), sink.ids
        assert mon.stats.dropped_rows == 0
    finally:
        mon.close()


def test_no_sink_failure_is_reported_when_the_sink_never_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The configuration of the report: 20 rows logged at once to a healthy sink. Every row
    is written or counted as dropped, and no warning says the sink fails."""
    sink = Recorder()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mon = Monitor(
            sink,
            background=True,
            max_batch=100,
            max_buffered=10,
            flush_interval=timedelta(hours=1),
        )
        for i in range(20):
            mon.log(**GOOD, request_id=f"r{i}")
        mon.close()
    assert len(sink.ids) + mon.stats.dropped_rows == 20
    assert not [m for m in _messages(caplog) if SINK_FAILS in m]


def test_a_slow_sink_is_not_called_failing_and_a_failed_one_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the flusher waits on a sink that has not failed, refused rows are warned of
    as such (once); once its write has raised, the refusals say the sink fails."""
    sink = GateSink()
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # frozen: no retry meanwhile
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mon = Monitor(
            sink,
            clock=clock,
            background=True,
            max_batch=10,
            max_buffered=10,
            flush_interval=timedelta(0),
        )
        mon.log(**GOOD, request_id="first")  # the flusher takes it and waits in the sink
        assert sink.entered.wait(30)
        for i in range(30):
            mon.log(**GOOD, request_id=f"r{i}")
        busy = _messages(caplog)
        assert mon.stats.dropped_rows == 20
        assert len([m for m in busy if "max_buffered=10" in m]) == 1, busy
        assert not [m for m in busy if SINK_FAILS in m], busy
        assert "waits on the sink" in busy[-1]
        sink.fail = True
        sink.gate.set()  # the write raises: from now on the sink has failed
        assert _wait_for(lambda: mon.stats.flush_errors == 1)
        mon.log(**GOOD, request_id="refused")
    failing = [m for m in _messages(caplog) if SINK_FAILS in m]
    assert len(failing) == 1 and mon.stats.dropped_rows == 21
    sink.fail = False
    mon.close()
    assert len(sink.ids) == 11  # "first" and the 10 rows that fit
