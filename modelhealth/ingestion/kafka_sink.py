"""The SDK sink that publishes every flushed batch to Kafka, one JSON row per message.

    sink = KafkaSink()                          # local services (modelhealth.services.ports)
    monitor = Monitor(sink, references=refs)    # rows go to topic modelhealth.<table>

Why these choices:

- One JSON object per message, because that is what Pinot's ``KafkaJSONMessageDecoder`` turns
  into one row; a malformed message costs Pinot that one row, never the stream.
- Key = model name, so all of one model's rows land in one partition and stay in order there.
- Compression per producer batch: lz4 when the ``lz4`` module is importable, else gzip (zlib
  ships with Python). ``linger_ms`` and ``batch_size`` let kafka-python fill big batches.
- kafka-python 3.x has no ``buffer_memory`` limit: its accumulator grows without bound. The
  sink bounds it itself: once ``max_buffer_bytes`` of unacknowledged payload is queued it
  blocks (``producer.flush``) until Kafka acknowledged them, for at most ``max_block_ms``.
  That is back-pressure on the caller's ``Monitor.flush`` instead of memory growth.
- Delivery errors are never swallowed: every send's future is checked when the buffer drains;
  failures are counted in :attr:`KafkaSink.stats` and raised as :class:`KafkaSinkError`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelhealth.errors import ModelHealthError
from modelhealth.ingestion.batch import EventBatch, ParkedEvent
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import parked_topic, topic_name

DEFAULT_MAX_BUFFER_BYTES = 32 * 1024 * 1024


class KafkaSinkError(ModelHealthError):
    """Kafka did not accept some rows; carries how many and the first few reasons."""

    def __init__(self, failed: int, reasons: list[str]) -> None:
        self.failed = failed
        self.reasons = reasons
        super().__init__(f"{failed} Kafka deliveries failed: {'; '.join(reasons[:3])}")


@dataclass
class SinkStats:
    """What the sink did, for a model server to export (per topic)."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    blocked: int = 0  # times the bounded buffer made the caller wait


def default_compression() -> str:
    from kafka.codec import has_lz4

    return "lz4" if has_lz4() else "gzip"


class KafkaSink:
    """Writes :class:`EventBatch` rows to ``modelhealth.<table>`` topics (see module doc)."""

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        namespace: str = "",
        compression: str | None = None,
        linger_ms: int = 20,
        batch_size: int = 512 * 1024,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_block_ms: int = 30_000,
        flush_each_write: bool = True,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        from kafka import KafkaProducer

        from modelhealth.services import ports

        if max_buffer_bytes <= 0:
            raise ValueError("max_buffer_bytes must be positive")
        self.bootstrap = bootstrap or ports.KAFKA_BOOTSTRAP
        self.topics = {name: topic_name(name, namespace) for name in TABLES}
        self.parked_topic = parked_topic(namespace)
        self.max_buffer_bytes = max_buffer_bytes
        self.max_block_ms = max_block_ms
        self.flush_each_write = flush_each_write
        self.stats = SinkStats()
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "compression_type": compression or default_compression(),
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "max_block_ms": max_block_ms,
            "metrics_enabled": False,  # ~15% of send() time on a busy 2-core box
            "client_id": "modelhealth-sdk",
        }
        config.update(producer_config or {})
        self._producer = KafkaProducer(**config)
        self._pending: list[tuple[str, Any]] = []  # (topic, future) not yet checked
        self._pending_bytes = 0
        self._closed = False

    # -- Sink protocol -------------------------------------------------------------------
    def write(self, batch: EventBatch) -> None:
        """Send every row of ``batch``; raise :class:`KafkaSinkError` if any delivery failed.

        With ``flush_each_write`` (default) this returns only after Kafka acknowledged the
        batch, so a returning ``Monitor.flush`` means the events are durable in Kafka.
        """
        if self._closed:
            raise KafkaSinkError(0, ["sink is closed"])
        for name, frame in batch.frames().items():
            if len(frame):
                self._send_frame(name, frame)
        for parked in batch.parked:
            self._send(self.parked_topic, None, _parked_json(parked))
        if self.flush_each_write:
            self.drain()

    def drain(self) -> None:
        """Block until everything sent is acknowledged; raise on any failed delivery."""
        self._wait_all()

    def close(self) -> None:
        """Deliver what is queued, then close the producer (idempotent)."""
        if self._closed:
            return
        try:
            self._wait_all()
        finally:
            self._closed = True
            self._producer.close(timeout=self.max_block_ms / 1000)

    # -- internals -----------------------------------------------------------------------
    def _send_frame(self, name: str, frame: pd.DataFrame) -> None:
        topic = self.topics[name]
        cols = TABLES[name].column_names
        columns = [frame[c].tolist() for c in cols]
        models = frame["model"].tolist()
        dumps = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
        for model, row in zip(models, zip(*columns, strict=True), strict=True):
            try:
                value = dumps(dict(zip(cols, row, strict=True))).encode()
            except ValueError as exc:  # NaN/inf: Pinot would drop the row silently
                self.stats.failed[topic] += 1
                raise KafkaSinkError(1, [f"{name} row not JSON-safe ({exc}): {row!r}"]) from None
            self._send(topic, model.encode(), value)

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self._pending_bytes + len(value) > self.max_buffer_bytes and self._pending:
            self.stats.blocked += 1
            self._wait_all()  # back-pressure: the caller waits for Kafka, memory stays bounded
        try:
            future = self._producer.send(topic, value=value, key=key)
        except Exception as exc:  # KafkaTimeoutError (metadata), MessageSizeTooLargeError, ...
            self.stats.failed[topic] += 1
            raise KafkaSinkError(1, [f"{topic}: {type(exc).__name__}: {exc}"]) from exc
        self._pending.append((topic, future))
        self._pending_bytes += len(value)
        self.stats.bytes_sent += len(value)

    def _wait_all(self) -> None:
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return
        reasons: list[str] = []
        try:
            self._producer.flush(timeout=self.max_block_ms / 1000)
        except Exception as exc:  # KafkaTimeoutError: the broker is gone or too slow
            reasons.append(f"flush: {type(exc).__name__}: {exc}")
        failed = 0
        for topic, future in pending:
            if future.is_done and future.succeeded():
                self.stats.sent[topic] += 1
                continue
            failed += 1
            self.stats.failed[topic] += 1
            if len(reasons) < 5:
                err = future.exception if future.is_done else "not acknowledged in time"
                reasons.append(f"{topic}: {type(err).__name__}: {err}")
        if failed or reasons:
            raise KafkaSinkError(failed, reasons)


def _parked_json(parked: ParkedEvent) -> bytes:
    return json.dumps(
        {"ts": parked.ts, "reason": parked.reason, "event": parked.event},
        separators=(",", ":"),
    ).encode()
