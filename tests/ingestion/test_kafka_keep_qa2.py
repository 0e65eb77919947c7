"""Rows the Kafka sink could not deliver come back to the Monitor (kept, or counted as
dropped), and ``log_batch``/``log_outcome`` flush like ``log`` (QA of ingestion, round 2).

Kafka here is a port nothing listens on: the real producer, really failing to connect. The
outage tests against a broker that stops and comes back are in
``tests/integration/test_kafka_outage_qa.py``.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch, ParkedEvent
from modelhealth.ingestion.kafka_sink import KafkaSink, KafkaSinkError
from modelhealth.ingestion.sdk import _concat
from tests.ingestion.test_sdk import ListSink

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


class RecordingSink(ListSink):
    """Keeps what it is given (the real thing is exercised in the integration tier)."""

    def rows(self, table: str) -> int:
        return sum(len(b.frames()[table]) for b in self.batches)


def _dead_bootstrap() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _columns(n: int, start: int = 0) -> dict[str, object]:
    return {
        "model": "m",
        "version": "v1",
        "features": {"a": np.arange(start, start + n, dtype=float)},
        "score": np.full(n, 0.5),
        "latency_ms": np.full(n, 2.0),
        "ts_ms": np.full(n, T_MS),
        "request_ids": [f"r{start + i}" for i in range(n)],
    }


def test_log_batch_flushes_at_max_batch_without_a_later_log() -> None:
    """QA: ten log_batch calls of 5,000 rows with max_batch=1000 flushed nothing (50,000 rows
    in memory) until a single log() came."""
    sink = RecordingSink()
    mon = Monitor(sink, clock=FakeClock(T), max_batch=1000, flush_interval=timedelta(hours=1))
    for k in range(3):
        assert mon.log_batch(**_columns(5000, 5000 * k)) == 5000
    assert mon.stats.flushes == 3 and sink.rows("inferences") == 15_000


def test_log_batch_and_log_outcome_flush_when_the_interval_passed() -> None:
    clock = FakeClock(T)
    sink = RecordingSink()
    mon = Monitor(sink, clock=clock, flush_interval=timedelta(seconds=1))
    mon.log_batch(**_columns(10))
    assert mon.stats.flushes == 0  # not due yet
    clock.advance(seconds=2)
    mon.log_batch(**_columns(10, 10))
    assert mon.stats.flushes == 1 and sink.rows("inferences") == 20
    clock.advance(seconds=2)
    assert mon.log_outcome(model="m", request_id="r1", label=1.0)
    assert mon.stats.flushes == 2 and sink.rows("outcomes") == 1


def test_log_outcome_flushes_at_max_batch() -> None:
    sink = RecordingSink()
    mon = Monitor(sink, clock=FakeClock(T), max_batch=5, flush_interval=timedelta(hours=1))
    for i in range(5):
        mon.log_outcome(model="m", request_id=f"r{i}", label=1.0)
    assert mon.stats.flushes == 1 and sink.rows("outcomes") == 5


def test_unsent_rows_come_back_exactly_as_given() -> None:
    """What a failed write hands back is the batch itself (values and types), so the next
    write sends the same JSON."""
    sink = KafkaSink(_dead_bootstrap(), max_block_ms=300)
    inferences = pd.DataFrame(
        {
            "ts": np.array([T_MS, T_MS + 1], np.int64),
            "model": ["a", "b"],
            "version": "v1",
            "host": "h",
            "request_id": ["r1", None],  # one model each: one message each, in this order
            "score": [0.25, 1e-300],
            "latency_ms": [1.0, 3.5],
            "is_error": np.array([0, 1], np.int32),
        }
    )
    outcomes = pd.DataFrame({"ts": [T_MS], "model": ["a"], "request_id": ["r1"], "label": [1.0]})
    parked = ParkedEvent(reason="bad_score: x", event='{"score": "x"}', ts=5)
    batch = EventBatch(inferences=inferences, outcomes=outcomes, parked=[parked])
    with pytest.raises(KafkaSinkError) as err:
        sink.write(batch)
    assert err.value.unsent is not None and err.value.resend and err.value.lost == 0
    back = _concat(err.value.unsent)
    for name in ("inferences", "outcomes"):
        got, want = back.frames()[name], batch.frames()[name]
        assert got.to_dict("records") == want.astype(object).to_dict("records"), name
    assert back.parked == [parked]
    assert "handed back to write again" in str(err.value)


def test_monitor_keeps_what_the_kafka_sink_hands_back_and_counts_the_rest() -> None:
    """Every row is kept for retry or counted: after 3 failed flushes of 400 rows with
    max_unsent_rows=500, at most 500 are kept (the newest; whole Kafka messages of up to 500
    rows) and the rest is counted in dropped_rows."""
    sink = KafkaSink(_dead_bootstrap(), max_block_ms=300)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=timedelta(hours=1), max_unsent_rows=500)
    for k in range(3):
        mon.log_batch(**_columns(400, 400 * k))
        with pytest.raises(KafkaSinkError):
            mon.flush()
    ids = [r for b in mon._unsent for r in b.inferences["request_id"]]
    assert 0 < len(ids) <= 500 and len(ids) + mon.stats.dropped_rows == 1200
    assert "r1199" in ids and "r0" not in ids
    assert mon.stats.flush_errors == 3


def test_a_sink_made_while_kafka_is_down_does_not_wait() -> None:
    """QA: KafkaSink() blocked 30 s (bootstrap_timeout_ms) when Kafka was down; the README
    says it connects at its first write."""
    import time

    t = time.monotonic()
    sink = KafkaSink(_dead_bootstrap(), max_block_ms=5000)
    assert time.monotonic() - t < 10  # not the 30 s wait (importing kafka-python can take 1 s)
    sink.close()  # nothing was written: closes without a producer


def test_unknown_producer_config_fails_when_the_sink_is_made() -> None:
    with pytest.raises(ValueError, match="lingr_ms"):
        KafkaSink(_dead_bootstrap(), producer_config={"lingr_ms": 5})


class FailOnceSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def write(self, batch: EventBatch) -> None:
        if self.fail:
            self.fail = False
            raise ConnectionError("broker unavailable")
        super().write(batch)


def test_last_flush_error_is_cleared_once_a_flush_succeeds() -> None:
    """QA: it kept describing an outage long over, so a health check read it as current."""
    mon = Monitor(FailOnceSink(), clock=FakeClock(T), flush_interval=timedelta(hours=1))
    mon.log(**GOOD)
    with pytest.raises(ConnectionError):
        mon.flush()
    assert "broker unavailable" in mon.stats.last_flush_error
    mon.flush()
    assert mon.stats.last_flush_error == "" and mon.stats.flush_errors == 1
