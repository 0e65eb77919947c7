"""Without a background flusher, the buffers are bounded too while automatic flushes back off.

The request thread flushes itself (``background=False``, the default), but after a sink
failure its automatic flushes wait 1 s, doubling to 60 s (``RETRY_MAX_S``), and meanwhile
``log``, ``log_batch`` and ``log_outcome`` buffered without limit: only ``background=True``
honoured ``max_buffered``. A server doing 5,000 inferences/s held 300,000 events per minute
of a Kafka outage, each with its feature dict. Now the same ``max_buffered`` (default 10 x
``max_batch``) bounds them: the newest rows are refused (False / fewer rows accepted), counted
in ``stats.dropped_rows``, and one warning per episode says so; nothing raises.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}
FULL = "buffers are full"


class FlakySink:
    """Refuses every write while ``down`` (as Kafka's sink does when the broker is gone);
    keeps what it took."""

    def __init__(self) -> None:
        self.down = True
        self.writes = 0
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.writes += 1
        if self.down:
            raise ConnectionError("broker gone")
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def rows(self, table: str) -> int:
        return sum(len(b.frames()[table]) for b in self.batches)


def _buffered(mon: Monitor) -> int:
    """Rows waiting in the Monitor's buffers, counted from the buffers themselves."""
    with mon._lock:
        blocks = sum(len(b.inferences) for b in mon._blocks)
        return len(mon._events) + blocks + len(mon._outcomes) + len(mon._parked)


def _unsent(mon: Monitor) -> int:
    return sum(b.user_rows() for b in mon._unsent)


def _backing_off(max_buffered: int | None = None) -> tuple[Monitor, FlakySink, FakeClock]:
    """A sync Monitor (max_batch 100) whose first automatic flush failed: it backs off 1 s."""
    sink, clock = FlakySink(), FakeClock(T)
    mon = Monitor(
        sink,
        clock=clock,
        max_batch=100,
        flush_interval=timedelta(hours=1),
        max_buffered=max_buffered,
    )
    for i in range(100):
        assert mon.log(**GOOD, request_id=f"r{i}")
    assert sink.writes == 1 and mon.stats.flush_errors == 1  # kept for retry, backing off
    return mon, sink, clock


def _full_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if FULL in r.getMessage()]


def test_log_during_the_backoff_keeps_at_most_max_buffered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mon, sink, _ = _backing_off()  # max_buffered: 10 x max_batch = 1,000
    assert mon.max_buffered == 1000
    with caplog.at_level(logging.WARNING, logger="modelhealth.ingestion.sdk"):
        taken = [mon.log(**GOOD, request_id=f"s{i}") for i in range(5000)]
    assert sink.writes == 1  # still backing off: no flush tried
    assert _buffered(mon) == 1000 and taken.count(True) == 1000
    assert taken[:1000] == [True] * 1000  # the newest are refused, as a full queue does
    assert mon.stats.dropped_rows == 4000 == mon.stats.dropped_by_table["inferences"]
    assert _buffered(mon) + _unsent(mon) + mon.stats.dropped_rows == 5100
    (warning,) = _full_warnings(caplog)  # once per episode, not once per refused row
    assert "max_buffered=1000" in warning and "dropped_rows" in warning, warning


def test_log_batch_and_log_outcome_share_the_bound() -> None:
    mon, _, _ = _backing_off(max_buffered=500)
    n = 400
    taken = mon.log_batch(
        model="m",
        version="v1",
        features={"a": np.arange(n, dtype=float)},
        score=np.full(n, 0.5),
        latency_ms=np.full(n, 2.0),
        ts_ms=np.full(n, T_MS),
        request_ids=[f"b{i}" for i in range(n)],
    )
    assert taken == n
    taken = mon.log_batch(
        model="m",
        version="v1",
        features={"a": np.arange(n, dtype=float)},
        score=np.full(n, 0.5),
        latency_ms=np.full(n, 2.0),
        ts_ms=np.full(n, T_MS),
    )
    assert taken == 100  # the first rows that fit
    labels = [mon.log_outcome(model="m", request_id=f"b{i}", label=1.0) for i in range(10)]
    assert labels == [False] * 10
    assert _buffered(mon) == 500
    assert mon.stats.dropped_by_table == {"inferences": 300, "outcomes": 10}
    assert mon.stats.dropped_rows == 310


def test_every_row_is_stored_or_counted_and_each_episode_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once the back-off is over the next log flushes; when the sink is back, everything
    kept is stored, and a later outage that fills the buffers warns again."""
    mon, sink, clock = _backing_off(max_buffered=300)
    with caplog.at_level(logging.WARNING, logger="modelhealth.ingestion.sdk"):
        for i in range(1000):
            mon.log(**GOOD, request_id=f"a{i}")
        sink.down = False
        clock.advance(seconds=2)  # past the 1 s back-off: the next log flushes
        assert mon.log(**GOOD, request_id="back")
        assert sink.writes == 2 and mon.stats.flushes == 1
        assert len(_full_warnings(caplog)) == 1

        sink.down = True
        for i in range(1000):  # fails at 100 rows, then backs off 2 s, then fills again
            mon.log(**GOOD, request_id=f"c{i}")
        assert len(_full_warnings(caplog)) == 2
    sink.down = False
    mon.close()
    logged = 100 + 1000 + 1 + 1000
    assert sink.rows("inferences") + mon.stats.dropped_rows == logged
    assert mon.stats.dropped_rows == 700 + 600


def test_a_healthy_sync_monitor_takes_a_batch_larger_than_max_buffered() -> None:
    """The bound is for rows waiting out a back-off: while the sink takes writes, the
    request thread flushes what it logs at once, and a backfill of one big batch is stored
    whole."""
    sink = FlakySink()
    sink.down = False
    mon = Monitor(sink, clock=FakeClock(T), max_batch=100, max_buffered=1000)
    n = 5000
    taken = mon.log_batch(
        model="m",
        version="v1",
        features={"a": np.arange(n, dtype=float)},
        score=np.full(n, 0.5),
        latency_ms=np.full(n, 2.0),
        ts_ms=np.full(n, T_MS),
    )
    assert taken == n and sink.rows("inferences") == n
    assert mon.stats.dropped_rows == 0
