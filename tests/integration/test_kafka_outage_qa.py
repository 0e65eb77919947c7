"""Kafka stops and comes back while a Monitor logs: no good row vanishes silently.

Every row handed to the Monitor must be delivered, kept for retry or counted in
``stats.dropped_rows`` (QA: after an outage longer than the producer's delivery timeout a
background Monitor never delivered again, expired rows were lost uncounted, the labels of a
half-queued flush were thrown away, and a second ``close()`` reported success after losing
200 of 300 rows).

These tests start a Kafka of their own on free ports with its own run directory (never the
session's services, which another test run may be using), stop and restart it, and always
stop it at the end. The producer's delivery timeout is cut to 8 s so an outage of ~25 s
exceeds it, as the QA's 160 s outage exceeded the default 120 s.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from modelhealth.errors import ModelHealthError
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.kafka_sink import ROWS_FIELD, KafkaSink, KafkaSinkError
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import parked_topic, topic_name
from modelhealth.services import ports
from tests.integration.conftest import OwnKafka

pytestmark = pytest.mark.integration

SHORT = {"delivery_timeout_ms": 8_000, "request_timeout_ms": 3_000}
"""Producer timeouts short enough that a ~25 s outage outlives the delivery timeout."""
T_MS = int(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def namespace(own_kafka: OwnKafka) -> str:
    """Fresh topics for every table and the parked topic (what `pinot init` creates)."""
    from modelhealth.services import ensure_topic

    ns = f"out{uuid.uuid4().hex[:8]}_"
    for name in TABLES:
        ensure_topic(topic_name(name, ns))
    ensure_topic(parked_topic(ns))
    return ns


def _sink(namespace: str, **kw: object) -> KafkaSink:
    return KafkaSink(
        ports.KAFKA_BOOTSTRAP, namespace=namespace, max_block_ms=3_000, producer_config=SHORT, **kw
    )  # type: ignore[arg-type]


def _delivered(topic: str, idle_ms: int = 5_000) -> Counter[str]:
    """request_id -> copies in ``topic`` (unpacking ``{"rows": [...]}`` messages)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=ports.KAFKA_BOOTSTRAP, auto_offset_reset="earliest",
        consumer_timeout_ms=idle_ms, group_id=None,
    )  # fmt: skip
    got: Counter[str] = Counter()
    try:
        for record in consumer:
            value = json.loads(record.value)
            got.update(row["request_id"] for row in value.get(ROWS_FIELD, [value]))
    finally:
        consumer.close()
    return got


def _log(mon: Monitor, i: int) -> str:
    rid = f"r{i}"
    assert mon.log(
        model="m", version="v1", features={"a": float(i)}, score=0.5, latency_ms=1.0,
        request_id=rid, ts=T_MS + i,
    )  # fmt: skip
    return rid


def _close(mon: Monitor, within_s: float = 60.0) -> list[str]:
    """close(), retried as the docs say until ``within_s`` has passed; the errors of the
    failed tries. (Three tries were not always enough on a loaded CI box: each can spend
    its 3 s metadata wait before the broker's partitions have leaders again.)"""
    errors = []
    deadline = time.monotonic() + within_s
    while True:
        try:
            mon.close()
            return errors
        except ModelHealthError as exc:
            errors.append(str(exc))
        if time.monotonic() > deadline:
            raise AssertionError(f"close() failed {len(errors)} times in {within_s:.0f}s: {errors}")
        time.sleep(0.5)


def test_delivery_resumes_after_an_outage_longer_than_the_delivery_timeout(
    own_kafka: OwnKafka, namespace: str
) -> None:
    """A background Monitor logging through a 25 s outage (delivery timeout 8 s): every row
    arrives once Kafka is back, or is counted as dropped; none vanishes.

    QA (default 120 s timeout, 160 s outage): 870 of 16,671 rows arrived, dropped_rows 0.
    """
    sink = _sink(namespace)
    mon = Monitor(
        sink, flush_interval=timedelta(seconds=1), background=True, max_unsent_rows=100_000
    )
    sent: list[str] = []
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set():
            sent.append(_log(mon, i))
            i += 1
            time.sleep(0.01)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        time.sleep(4)
        own_kafka.stop()
        time.sleep(25)
        own_kafka.start()
        time.sleep(12)
    finally:
        stop.set()
        feeder.join()
        own_kafka.start()  # no-op when running; the fixture's broker must be up for the rest
    _close(mon)
    got = _delivered(topic_name("inferences", namespace))
    missing = set(sent) - set(got)
    assert sink.stats.failed, "the outage did not outlive the delivery timeout: test too weak"
    assert len(missing) == mon.stats.dropped_rows == 0, (
        f"{len(missing)} of {len(sent)} rows missing, dropped_rows={mon.stats.dropped_rows}"
    )


def test_rows_of_a_flush_never_queued_are_kept_while_the_rest_waits_in_the_producer(
    own_kafka: OwnKafka, namespace: str
) -> None:
    """Predictions queued in the producer (their topic's metadata was cached) and outcomes
    that never were (no metadata for their topic while Kafka was down): the outcomes are
    kept and written after the restart. QA: 100 of 100 predictions, 0 of 50 labels."""
    sink = _sink(namespace)
    mon = Monitor(sink, flush_interval=timedelta(hours=1), max_unsent_rows=100_000)
    _log(mon, -1)
    mon.flush()  # caches the inferences topic's metadata only
    own_kafka.stop()
    try:
        ids = [_log(mon, i) for i in range(50)]
        for rid in ids:
            assert mon.log_outcome(model="m", request_id=rid, label=1.0)
        with pytest.raises(KafkaSinkError):
            mon.flush()
        kept = sum(len(b.outcomes) for b in mon._unsent)
        assert kept == 50  # the labels were never queued: the Monitor keeps them
    finally:
        own_kafka.start()
    _close(mon)
    assert set(_delivered(topic_name("outcomes", namespace))) == set(ids)
    assert set(ids) <= set(_delivered(topic_name("inferences", namespace)))
    assert mon.stats.dropped_rows == 0


def test_delivery_resumes_within_seconds_of_kafka_coming_back_after_a_long_outage(
    own_kafka: OwnKafka, namespace: str
) -> None:
    """CI: a producer that had kept failing to reach Kafka for ~30 s had grown kafka-python's
    reconnect backoff towards its 30 s default, so the sink stayed blind for many seconds
    after Kafka was back and three close() retries all failed. The sink caps the backoff at
    1 s (Java's default)."""
    sink = _sink(namespace)
    mon = Monitor(sink, flush_interval=timedelta(hours=1), max_unsent_rows=100_000)
    _log(mon, -1)
    mon.flush()  # connected, the inferences topic's metadata cached
    own_kafka.stop()
    try:
        ids = [_log(mon, i) for i in range(50)]
        for rid in ids:
            assert mon.log_outcome(model="m", request_id=rid, label=1.0)
        with pytest.raises(KafkaSinkError):
            mon.flush()  # the producer now retries its connection with growing backoff
        time.sleep(30)
    finally:
        own_kafka.start()
    back = time.monotonic()
    errors = _close(mon, within_s=60)
    took = time.monotonic() - back
    assert took < 10, f"close() delivered {took:.1f} s after Kafka was back; failures: {errors}"
    assert set(_delivered(topic_name("outcomes", namespace))) == set(ids)
    assert mon.stats.dropped_rows == 0


def test_close_that_fails_raises_keeps_the_sink_open_and_a_later_close_delivers(
    own_kafka: OwnKafka, namespace: str
) -> None:
    """QA: the second close() raised kafka's own KafkaTimeoutError and marked the sink
    closed; the third returned normally with 200 of 300 rows lost and nothing counted."""
    sink = _sink(namespace)
    mon = Monitor(sink, flush_interval=timedelta(hours=1), max_unsent_rows=100_000)
    ids = [_log(mon, i) for i in range(100)]
    mon.flush()
    own_kafka.stop()
    try:
        ids += [_log(mon, i) for i in range(100, 300)]
        for _ in range(2):
            with pytest.raises(KafkaSinkError):  # a ModelHealthError, every time
                mon.close()
        assert not sink._closed
    finally:
        own_kafka.start()
    _close(mon)
    assert sink._closed
    got = _delivered(topic_name("inferences", namespace))
    assert set(ids) - set(got) == set() and mon.stats.dropped_rows == 0


def test_a_topic_that_was_never_created_is_named_in_the_error(own_kafka: OwnKafka) -> None:
    """QA: "Failed to update metadata after 30.0 secs", which reads like Kafka being down."""
    sink = _sink("never_created_")
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    _log(mon, 0)
    with pytest.raises(KafkaSinkError) as err:
        mon.flush()
    message = str(err.value)
    assert "'modelhealth.never_created_inferences' does not exist" in message
    assert "modelhealth pinot init --namespace never_created_" in message
    assert sum(len(b.inferences) for b in mon._unsent) == 1  # kept, not lost


def test_rows_kafka_can_never_take_are_counted_as_dropped(
    own_kafka: OwnKafka, namespace: str
) -> None:
    """A message Kafka refuses for good (too large for ``max_request_size``) is counted in
    ``dropped_rows``; the rest of the flush is kept and written (or refused) later, never
    retried forever nor forgotten."""
    sink = KafkaSink(
        ports.KAFKA_BOOTSTRAP, namespace=namespace, max_block_ms=3_000,
        producer_config={**SHORT, "max_request_size": 64},
    )  # fmt: skip
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    _log(mon, 0)
    _log(mon, 1)
    errors = 0
    while True:
        try:
            mon.flush()
            break
        except KafkaSinkError as exc:
            errors += 1
            assert exc.lost >= 1 and errors < 20
    assert mon._unsent == [] and mon.stats.dropped_rows >= 2  # both inference rows, at least
    assert sink.stats.lost == mon.stats.dropped_rows
    sink.close()
