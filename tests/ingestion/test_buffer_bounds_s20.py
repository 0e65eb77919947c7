"""Memory stays bounded and drops are counted per table while the sink is down.

With ``background=True``, ``log()`` kept at most ``max_buffered`` events while the flusher was
stuck on the sink, but ``log_batch`` and ``log_outcome`` buffered without limit (QA: a model
server logging batches while Kafka was down grew without limit). Rows a Kafka message
lost for good were all added to ``dropped_rows``, predictions and feature aggregates alike, so
"dropped_rows == 12" could not be read as "12 predictions lost".

The sinks here are real where they can be: a ``KafkaSink`` whose broker port nothing listens
on (the tests against a Kafka that refuses or goes away are in
``tests/integration/test_kafka_accounting_s20.py``). A sink stuck in a write
(Kafka's ``max_block_ms`` wait) is a gate the test opens.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import USER_ROWS, EventBatch
from modelhealth.ingestion.kafka_sink import KafkaSink, KafkaSinkError
from modelhealth.ingestion.schema import TABLES

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


class StuckSink:
    """A sink whose write blocks until the test opens the gate (Kafka waiting out its
    ``max_block_ms`` while the broker is gone); keeps what it was given."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.entered.set()
        assert self.gate.wait(30)
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def request_ids(self) -> list[str]:
        return [r for b in self.batches for r in b.inferences["request_id"]]


def _columns(n: int, start: int, features: int = 1) -> dict[str, object]:
    return {
        "model": "m",
        "version": "v1",
        "features": {f"f{j}": np.arange(start, start + n, dtype=float) for j in range(features)},
        "score": np.full(n, 0.5),
        "latency_ms": np.full(n, 2.0),
        "ts_ms": T_MS + 1000 * np.arange(start, start + n),  # one minute per 60 rows
        "request_ids": [f"r{start + i}" for i in range(n)],
    }


def _buffered(mon: Monitor) -> int:
    """Rows waiting in the Monitor's buffers, counted from the buffers themselves."""
    with mon._lock:
        blocks = sum(len(b.inferences) for b in mon._blocks)
        return len(mon._events) + blocks + len(mon._outcomes) + len(mon._parked)


def _stuck_monitor(max_buffered: int) -> tuple[Monitor, StuckSink]:
    """A background Monitor whose flusher is blocked in the sink with one event."""
    sink = StuckSink()
    mon = Monitor(sink, flush_interval=timedelta(0), background=True, max_buffered=max_buffered)
    mon.log(**GOOD, request_id="first")  # wakes the flusher, which blocks in the sink
    assert sink.entered.wait(30)
    assert _buffered(mon) == 0  # the flusher took it: what follows only waits
    return mon, sink


def _user_drops(mon: Monitor) -> int:
    return sum(n for table, n in mon.stats.dropped_by_table.items() if table in USER_ROWS)


# -- 1. log_batch and log_outcome share log()'s bound -------------------------------------
def test_log_batch_in_background_never_buffers_more_than_max_buffered() -> None:
    """50 batches of 300 rows against a sink that never returns: at most 1,000 rows wait,
    the oldest (what was buffered first) are kept, every refused row is counted."""
    mon, sink = _stuck_monitor(max_buffered=1000)
    accepted = []
    for k in range(50):
        accepted.append(mon.log_batch(**_columns(300, 300 * k)))
        assert _buffered(mon) <= 1000
    assert accepted[:4] == [300, 300, 300, 100] and set(accepted[4:]) == {0}
    refused = 50 * 300 - sum(accepted)
    assert mon.stats.dropped_rows == refused == 14_000
    assert mon.stats.dropped_by_table == {"inferences": refused}
    assert mon.stats.accepted == 1 + 1000
    sink.gate.set()
    mon.close()
    assert sink.request_ids() == ["first"] + [f"r{i}" for i in range(1000)]


def test_log_outcome_in_background_is_bounded_by_the_same_buffer() -> None:
    """Labels wait in the same bounded buffer as predictions: 600 labels after 500 rows of
    predictions with max_buffered=800 keep 300 labels, and 300 are counted as dropped."""
    mon, sink = _stuck_monitor(max_buffered=800)
    assert mon.log_batch(**_columns(500, 0)) == 500
    kept = [mon.log_outcome(model="m", request_id=f"r{i}", label=1.0) for i in range(600)]
    assert kept == [True] * 300 + [False] * 300
    assert _buffered(mon) == 800
    assert mon.stats.dropped_by_table == {"outcomes": 300} and mon.stats.dropped_rows == 300
    assert not mon.log(**GOOD)  # and log() finds the buffer full too
    assert mon.stats.dropped_by_table == {"outcomes": 300, "inferences": 1}
    sink.gate.set()
    mon.close()
    assert sum(len(b.outcomes) for b in sink.batches) == 300


def test_concurrent_log_batch_calls_cannot_overshoot_the_bound_together() -> None:
    """Rows a batch is still aggregating count against the bound: eight threads logging
    batches at once never leave more than max_buffered rows, and every row is accounted."""
    mon, sink = _stuck_monitor(max_buffered=5000)
    returned: list[int] = []

    def log_batches(t: int) -> None:
        for k in range(10):
            returned.append(mon.log_batch(**_columns(400, 100_000 * t + 400 * k, features=5)))

    threads = [threading.Thread(target=log_batches, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _buffered(mon) == sum(returned) == 5000
    assert mon.stats.dropped_rows == 8 * 10 * 400 - 5000
    sink.gate.set()
    mon.close()


# -- 2. a sink that never accepts: buffers and retries stay bounded ------------------------
def _dead_bootstrap() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_rows_kept_for_retry_stay_bounded_while_kafka_never_accepts() -> None:
    """The real Kafka sink with nothing listening hands every row back, one batch per
    message. Feature aggregates came back in batches of no prediction, which the bound on
    kept rows never dropped: 30 failed flushes of a 10-feature model kept 2,100 feature-stats
    rows for max_unsent_rows=500. Now every kind stays within the bound, and every logged
    prediction is either kept for retry or counted in dropped_rows."""
    sink = KafkaSink(_dead_bootstrap(), max_block_ms=50)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=timedelta(hours=1), max_unsent_rows=500)
    for k in range(30):
        assert mon.log_batch(**_columns(400, 400 * k, features=10)) == 400
        with pytest.raises(KafkaSinkError):
            mon.flush()
        unsent = [b.rows_by_table() for b in mon._unsent]
        for table in TABLES:
            assert sum(r.get(table, 0) for r in unsent) <= 500 + 500, table  # + the newest
    kept = sum(len(b.inferences) for b in mon._unsent)
    assert kept + mon.stats.dropped_by_table["inferences"] == 30 * 400
    assert mon.stats.dropped_rows == mon.stats.dropped_by_table["inferences"] == _user_drops(mon)
    assert mon.stats.dropped_by_table["feature_stats"] > 0  # counted, not in dropped_rows


def test_background_monitor_against_a_dead_kafka_accounts_for_every_row() -> None:
    """A background Monitor logging batches, labels and bad events while Kafka is down:
    the buffers never hold more than max_buffered rows, and at the end every prediction
    and label logged is kept for retry or counted as dropped, table by table."""
    sink = KafkaSink(_dead_bootstrap(), max_block_ms=50)
    mon = Monitor(
        sink,
        flush_interval=timedelta(0),
        background=True,
        max_buffered=1500,
        max_unsent_rows=1000,
    )
    logged = {"inferences": 0, "outcomes": 0}
    for k in range(40):
        logged["inferences"] += 500
        mon.log_batch(**_columns(500, 500 * k, features=3))
        for i in range(50):
            logged["outcomes"] += 1
            mon.log_outcome(model="m", request_id=f"r{500 * k + i}", label=1.0)
        assert _buffered(mon) <= 1500
    with pytest.raises(KafkaSinkError):
        mon.close()  # stops the flusher; the last flush fails: everything is kept or counted
    for table, n in logged.items():
        kept = sum(len(b.frames()[table]) for b in mon._unsent)
        assert kept + mon.stats.dropped_by_table[table] == n, table
    assert mon.stats.dropped_rows == _user_drops(mon) > 0


# -- 3. Kafka's lost rows, told apart by table (real broker) -------------------------------
class LosingSink:
    """A third-party sink that reports rows it lost with a plain count (no per-table
    breakdown), as sinks did before ``lost_by_table``."""

    def write(self, batch: EventBatch) -> None:
        exc = ConnectionError("gave up on 7 rows")
        exc.unsent = []  # type: ignore[attr-defined]
        exc.lost = 7  # type: ignore[attr-defined]
        raise exc

    def close(self) -> None:
        pass


def test_a_sink_without_the_breakdown_still_counts_its_lost_rows_as_dropped() -> None:
    """Backwards compatible: a ``lost`` without tables is not silently left out of
    dropped_rows (it may be predictions); it is filed under "unknown"."""
    mon = Monitor(LosingSink(), clock=FakeClock(T), flush_interval=timedelta(hours=1))
    mon.log(**GOOD)
    with pytest.raises(ConnectionError):
        mon.flush()
    assert mon.stats.dropped_rows == 7 and mon.stats.dropped_by_table == {"unknown": 7}
