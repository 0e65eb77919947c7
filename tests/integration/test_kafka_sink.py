"""KafkaSink against the real broker: ordering per model, back-pressure, errors, dead letters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from modelhealth.ingestion.batch import EventBatch, ParkedEvent
from modelhealth.ingestion.kafka_sink import (
    DEFAULT_ROWS_PER_MESSAGE,
    ROWS_FIELD,
    KafkaSink,
    KafkaSinkError,
)
from modelhealth.pinot_schemas import parked_topic, topic_name
from modelhealth.pinot_schemas.init import drop_pinot
from modelhealth.services import ensure_topic
from modelhealth.services.ports import KAFKA_BOOTSTRAP

pytestmark = pytest.mark.integration


def _inferences(n: int, models: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": np.arange(n, dtype=np.int64) + 1_767_225_600_000,
            "model": [models[i % len(models)] for i in range(n)],
            "version": "v1",
            "host": "h",
            "request_id": [f"r{i}" for i in range(n)],
            "score": np.linspace(0, 1, n),
            "latency_ms": np.linspace(1, 50, n),
            "is_error": np.zeros(n, np.int32),
        }
    )


def _consume(
    topic: str, n: int, sizes: list[int] | None = None
) -> list[tuple[int, bytes | None, dict[str, object]]]:
    """``n`` rows as (partition, key, row), unpacking ``{"rows": [...]}`` messages in order;
    appends each message's value size to ``sizes`` if given."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=KAFKA_BOOTSTRAP, auto_offset_reset="earliest",
        consumer_timeout_ms=10_000, group_id=None,
    )  # fmt: skip
    out = []
    try:
        for record in consumer:
            value = json.loads(record.value)
            rows = value.get(ROWS_FIELD, [value])
            out.extend((record.partition, record.key, row) for row in rows)
            if sizes is not None:
                sizes.append(len(record.value))
            if len(out) >= n:
                break
    finally:
        consumer.close()
    return out


@pytest.fixture
def namespace(jvm_services: None) -> Iterator[str]:
    ns = f"sink{uuid.uuid4().hex[:8]}_"
    ensure_topic(topic_name("inferences", ns), partitions=2)
    ensure_topic(parked_topic(ns), partitions=1)
    yield ns
    drop_pinot(ns)  # no tables exist (404s are fine); deletes the topics


def test_rows_keep_per_model_order_under_back_pressure(namespace: str) -> None:
    sink = KafkaSink(
        namespace=namespace, rows_per_message=20, max_buffer_bytes=8_192, flush_each_write=False
    )
    frame = _inferences(2_000)
    sink.write(EventBatch(inferences=frame))
    sink.close()
    assert sink.stats.blocked > 10  # the 8 KiB bound made the writer wait for acks
    assert sink.stats.sent[topic_name("inferences", namespace)] == 2_000
    assert sink.stats.messages[topic_name("inferences", namespace)] == 100  # 20 rows each
    got = _consume(topic_name("inferences", namespace), 2_000)
    assert len(got) == 2_000
    for model in ("a", "b"):
        rows = [(p, r) for p, k, r in got if k == model.encode()]
        assert len({p for p, _ in rows}) == 1  # one model, one partition
        assert [r["ts"] for _, r in rows] == sorted(r["ts"] for _, r in rows)
        assert all(r["model"] == model for _, r in rows)
    first = next(r for _, _, r in got if r["request_id"] == "r0")
    assert first == json.loads(frame.iloc[0].to_json()) | {"ts": int(frame["ts"][0])}


@pytest.mark.parametrize("rows_per_message", [1, 7])
def test_small_batches_and_single_rows_arrive_whole(namespace: str, rows_per_message: int) -> None:
    """``rows_per_message=1`` sends plain one-row objects (the format Pinot always decoded)."""
    frame = _inferences(50, models=("a", "b", "c"))
    sink = KafkaSink(namespace=namespace, rows_per_message=rows_per_message)
    sink.write(EventBatch(inferences=frame))
    sink.close()
    topic = topic_name("inferences", namespace)
    # per model: ceil(17/k) + ceil(17/k) + ceil(16/k) messages, never mixing models
    expected = sum(-(-n // rows_per_message) for n in (17, 17, 16))
    assert sink.stats.messages[topic] == expected and sink.stats.sent[topic] == 50
    got = _consume(topic, 50)
    assert sorted(r["request_id"] for _, _, r in got) == sorted(frame["request_id"])
    assert all(k == str(r["model"]).encode() for _, k, r in got)


def test_messages_are_split_to_fit_the_request_size(namespace: str) -> None:
    sink = KafkaSink(namespace=namespace, producer_config={"max_request_size": 4_096})
    sink.write(EventBatch(inferences=_inferences(600)))
    sink.close()
    topic = topic_name("inferences", namespace)
    sizes: list[int] = []
    got = _consume(topic, 600, sizes)
    assert len(got) == 600 and sink.stats.sent[topic] == 600
    assert max(sizes) <= sink.max_message_bytes < 4_096
    assert len(sizes) == sink.stats.messages[topic] > 600 / DEFAULT_ROWS_PER_MESSAGE
    for model in ("a", "b"):  # halving kept each model's order
        ts = [r["ts"] for _, k, r in got if k == model.encode()]
        assert ts == sorted(ts) and len(ts) == 300


def test_delivery_errors_are_raised_and_counted(namespace: str) -> None:
    sink = KafkaSink(namespace=namespace, producer_config={"max_request_size": 64})
    with pytest.raises(KafkaSinkError) as err:
        sink.write(EventBatch(inferences=_inferences(3)))
    assert err.value.failed == 1 and "MessageSizeTooLarge" in str(err.value)
    assert sink.stats.failed[topic_name("inferences", namespace)] == 1
    sink.close()


def test_rows_that_pinot_would_drop_are_refused(namespace: str) -> None:
    frame = _inferences(2)
    frame.loc[1, "score"] = float("nan")
    sink = KafkaSink(namespace=namespace)
    with pytest.raises(KafkaSinkError, match="not JSON-safe"):
        sink.write(EventBatch(inferences=frame))
    sink.close()


def test_parked_events_go_to_the_dead_letter_topic(namespace: str) -> None:
    sink = KafkaSink(namespace=namespace)
    parked = ParkedEvent(reason="bad_score: score must be finite", event='{"score": "x"}', ts=5)
    sink.write(EventBatch(parked=[parked]))
    sink.close()
    ((_, key, value),) = _consume(parked_topic(namespace), 1)
    assert key is None
    assert value == {"ts": 5, "reason": parked.reason, "event": parked.event}


def test_kafka_down_at_start_and_during_writes_asks_for_a_resend_only_of_unsent_rows() -> None:
    """Kafka unreachable (nothing listens on the port): making the sink no longer raises
    (a model server started before Kafka crashed after 30 s), a write raises with
    ``resend`` True since no row reached the producer, and the SDK keeps the rows."""
    import socket
    import time

    from modelhealth.clock import FakeClock
    from modelhealth.ingestion import Monitor

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    t = time.monotonic()
    sink = KafkaSink(dead, max_block_ms=1000)
    made = time.monotonic() - t
    batch = EventBatch(inferences=_inferences(10))
    with pytest.raises(KafkaSinkError) as err:
        sink.write(batch)
    assert err.value.resend and made < 15
    mon = Monitor(sink, clock=FakeClock(pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()))
    mon.log(model="m", version="v1", features={}, score=0.5, latency_ms=3.0)
    with pytest.raises(KafkaSinkError):
        mon.flush()
    assert mon.stats.flush_errors == 1 and len(mon._unsent) == 1  # kept for the next flush
