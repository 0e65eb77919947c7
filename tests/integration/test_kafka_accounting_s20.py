"""Kafka refuses rows or goes away: what was lost or may be stored twice is counted per table.

Rows a Kafka message lost for good used to be added to ``dropped_rows`` all alike, predictions
and feature aggregates, so "dropped_rows == 12" could not be read as "12 predictions lost";
and nothing said how many rows a replaced producer handed back (possible duplicates). These
run a Kafka of the module's own on free ports (``conftest.own_kafka``).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.kafka_sink import KafkaSink, KafkaSinkError
from modelhealth.ingestion.schema import TABLES
from modelhealth.ingestion.sdk import _concat
from modelhealth.pinot_schemas import parked_topic, topic_name
from modelhealth.services import ports
from tests.integration.conftest import OwnKafka

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


def _columns(n: int, start: int) -> dict[str, object]:
    return {
        "model": "m",
        "version": "v1",
        "features": {"f0": np.arange(start, start + n, dtype=float)},
        "score": np.full(n, 0.5),
        "latency_ms": np.full(n, 2.0),
        "ts_ms": T_MS + 1000 * np.arange(start, start + n),
        "request_ids": [f"r{start + i}" for i in range(n)],
    }


def _fresh_topics() -> str:
    """A namespace whose topics exist (what `modelhealth pinot init` creates)."""
    from modelhealth.services import ensure_topic

    ns = f"s20{uuid.uuid4().hex[:8]}_"
    for name in TABLES:
        ensure_topic(topic_name(name, ns))
    ensure_topic(parked_topic(ns))
    return ns


def test_rows_kafka_can_never_take_are_counted_per_table(own_kafka: OwnKafka) -> None:
    """Messages Kafka refuses for good (too large for ``max_request_size``) hold predictions,
    labels and feature aggregates; dropped_rows counts the predictions and labels only, and
    dropped_by_table tells every table apart, matching the sink's own counts."""
    sink = KafkaSink(
        ports.KAFKA_BOOTSTRAP,
        namespace=_fresh_topics(),
        max_block_ms=3_000,
        producer_config={
            "max_request_size": 64,
            "delivery_timeout_ms": 8_000,
            "request_timeout_ms": 3_000,
        },
    )
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=timedelta(hours=1))
    for i in range(3):
        assert mon.log(**GOOD, request_id=f"r{i}", ts=T_MS + i)
    assert mon.log_outcome(model="m", request_id="r0", label=1.0, ts=T_MS)
    deadline = time.monotonic() + 120
    while True:
        try:
            mon.flush()
            break
        except KafkaSinkError as exc:
            assert exc.lost == sum(exc.lost_by_table.values()) >= 1
        assert time.monotonic() < deadline
    assert mon._unsent == []
    assert mon.stats.dropped_rows == 4  # 3 predictions + 1 label, not the aggregates
    assert mon.stats.dropped_by_table == {"inferences": 3, "outcomes": 1, "feature_stats": 1}
    assert sink.stats.lost == mon.stats.dropped_rows
    assert sink.stats.lost_by_table == mon.stats.dropped_by_table
    sink.close()


def test_rows_a_replaced_producer_held_are_counted_as_possible_duplicates(
    own_kafka: OwnKafka,
) -> None:
    """Delivery is at-least-once: when the producer expires a message (delivery timeout 20 s
    here) it is replaced, and what it still held is handed back to be written again, though
    Kafka may have stored it. ``stats.resent_after_rebuild`` counts those rows, so a user can
    bound the duplicates. Predictions are sent at 0 s and labels at 10 s while the broker is
    down (another topic: the producer batches them apart); at 21 s the predictions have
    expired and the labels have not: the 3 labels are the rows counted. (Stops this module's
    Kafka: keep it the module's last test.)"""
    sink = KafkaSink(
        ports.KAFKA_BOOTSTRAP,
        namespace=_fresh_topics(),
        max_block_ms=1_000,
        flush_each_write=False,
        producer_config={"delivery_timeout_ms": 20_000, "request_timeout_ms": 3_000},
    )
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=timedelta(hours=1))
    mon.log(**GOOD, request_id="warm")
    mon.log_outcome(model="m", request_id="warm", label=0.0)
    mon.flush()
    sink.drain()  # connected, the topics' metadata known: later sends queue without a broker
    own_kafka.stop()
    mon.log_batch(**_columns(2, 0))
    mon.flush()  # 2 predictions and their feature stats, queued in the producer
    time.sleep(10)
    for i in range(3):
        mon.log_outcome(model="m", request_id=f"r{i}", label=1.0)
    mon.flush()  # 3 labels, 10 s younger
    time.sleep(11)  # the labels have ~9 s to spare on a slow box
    with pytest.raises(KafkaSinkError) as err:
        sink.drain()
    assert sink.stats.rebuilds == 1
    back = _concat(err.value.unsent or [])
    # feature_stats: f0's row and a's (known from the warm-up event, so the batch's 2 rows
    # are nulls of it)
    assert back.rows_by_table() == {"inferences": 2, "feature_stats": 2, "outcomes": 3}
    assert sink.stats.resent_after_rebuild == 3
