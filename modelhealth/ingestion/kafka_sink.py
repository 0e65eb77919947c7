"""The SDK sink that publishes every flushed batch to Kafka, many rows per message.

    sink = KafkaSink()                          # local services (modelhealth.services.ports)
    monitor = Monitor(sink, references=refs)    # rows go to topic modelhealth.<table>

Why these choices:

- **Batched messages**: ``{"rows": [{...}, {...}, ...]}``, up to ``rows_per_message`` rows
  (default 500) of one model each. kafka-python spends ~50 µs of Python per ``send()``, which
  caps one process near 10k messages/s; one send per 500 rows removes that ceiling. Pinot
  splits the array with modelhealth's own decoder (``deploy/jvm/pinot-decoder``, named in the
  table configs), which also reads plain one-row objects: what ``rows_per_message=1`` sends,
  e.g. for tables created with ``batched=False`` (Pinot's stock JSON decoder, one row each).
- A malformed message costs Pinot that message, never the stream: the decoder drops a message
  that is not a JSON object or whose ``rows`` is not a list, and drops just the rows whose values
  do not fit their column types. The sink still refuses rows Pinot could not take (NaN/inf)
  *before* sending, so a producer bug fails loudly here instead of as a drop count in Pinot.
- Key = model name, so all of one model's rows land in one partition, in order: rows are
  grouped by model keeping their order, and a message never mixes models.
- Messages stay under ``max_message_bytes`` (90% of the producer's ``max_request_size``): an
  oversize chunk is halved until it fits, so a wide table cannot hit ``MessageSizeTooLarge``.
- JSON via ``orjson`` when importable (~10x faster than ``json``), else the standard library;
  both write the shortest repr that round-trips, so DOUBLEs arrive bit-exact.
- Compression per producer batch: lz4 when the ``lz4`` module is importable, else gzip (zlib
  ships with Python). ``linger_ms`` and ``batch_size`` let kafka-python fill big batches.
- kafka-python 3.x has no ``buffer_memory`` limit: its accumulator grows without bound. The
  sink bounds it itself: once ``max_buffer_bytes`` of unacknowledged payload is queued it
  blocks (``producer.flush``) until Kafka acknowledged them, for at most ``max_block_ms``.
  That is back-pressure on the caller's ``Monitor.flush`` instead of memory growth.
- Delivery errors are never swallowed: every send's future is checked when the buffer drains;
  failures are counted (in rows) in :attr:`KafkaSink.stats` and raised as
  :class:`KafkaSinkError`.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.errors import ModelHealthError
from modelhealth.ingestion.batch import EventBatch, ParkedEvent
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import parked_topic, topic_name

DEFAULT_MAX_BUFFER_BYTES = 32 * 1024 * 1024
DEFAULT_ROWS_PER_MESSAGE = 500
ROWS_FIELD = "rows"
"""The array modelhealth's Pinot decoder splits into rows (its ``rowsField``, default "rows")."""
_KAFKA_MAX_REQUEST_SIZE = 1_048_576  # kafka-python's default max_request_size

log = logging.getLogger(__name__)


class KafkaSinkError(ModelHealthError):
    """Kafka did not accept some rows; carries how many and the first few reasons."""

    def __init__(self, failed: int, reasons: list[str], resend: bool = True) -> None:
        self.failed = failed
        self.reasons = reasons
        self.resend = resend
        """Whether the caller should write the batch again: True only when none of its rows
        reached the producer. Rows the producer holds are its to deliver (it retries them
        until its own timeout); sending them again queued a second copy each flush, and a
        two-minute outage stored rows up to 52 times in Pinot."""
        super().__init__(f"{failed} Kafka deliveries failed: {'; '.join(reasons[:3])}")


@dataclass
class SinkStats:
    """What the sink did, for a model server to export (per topic; rows, not messages)."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    blocked: int = 0  # times the bounded buffer made the caller wait


def default_compression() -> str:
    from kafka.codec import has_lz4

    return "lz4" if has_lz4() else "gzip"


def json_encoder() -> Callable[[Any], bytes]:
    """``orjson.dumps`` if installed, else a compact standard-library encoder (same output)."""
    try:
        import orjson
    except ImportError:
        encode = json.JSONEncoder(separators=(",", ":")).encode
        return lambda obj: encode(obj).encode()
    return orjson.dumps


class KafkaSink:
    """Writes :class:`EventBatch` rows to ``modelhealth.<table>`` topics (see module doc)."""

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        namespace: str = "",
        rows_per_message: int = DEFAULT_ROWS_PER_MESSAGE,
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
        if rows_per_message < 1:
            raise ValueError(f"rows_per_message must be >= 1, got {rows_per_message}")
        self.bootstrap = bootstrap or ports.KAFKA_BOOTSTRAP
        self.topics = {name: topic_name(name, namespace) for name in TABLES}
        self.parked_topic = parked_topic(namespace)
        self.rows_per_message = rows_per_message
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
        if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:  # kafka-python 3
            # it waits that long (30 s) for an unreachable broker when the producer is made:
            # a model server starting before Kafka stalled, then crashed
            config["bootstrap_timeout_ms"] = max_block_ms
        config.update(producer_config or {})
        # Headroom for the record and batch framing Kafka adds around our value.
        self.max_message_bytes = int(config.get("max_request_size", _KAFKA_MAX_REQUEST_SIZE) * 0.9)
        self._dumps = json_encoder()
        self._config = config
        self._producer: KafkaProducer | None = None
        try:
            self._producer = KafkaProducer(**config)
        except Exception as exc:  # Kafka down at start-up: the first write tries again
            log.warning("modelhealth: Kafka at %s not reachable yet (%s)", self.bootstrap, exc)
        self._pending: list[tuple[str, Any, int, int]] = []  # (topic, future, rows, bytes)
        self._pending_bytes = 0
        self._queued = 0  # rows handed to the producer, ever (tells a write what it queued)
        self._closed = False

    # -- Sink protocol -------------------------------------------------------------------
    def write(self, batch: EventBatch) -> None:
        """Send every row of ``batch``; raise :class:`KafkaSinkError` if any delivery failed.

        With ``flush_each_write`` (default) this returns only after Kafka acknowledged the
        batch, so a returning ``Monitor.flush`` means the events are durable in Kafka.
        """
        if self._closed:
            raise KafkaSinkError(0, ["sink is closed"])
        self._connect()
        before = self._queued
        try:
            for name, frame in batch.frames().items():
                if len(frame):
                    self._send_frame(name, frame)
            for parked in batch.parked:
                self._send(self.parked_topic, None, _parked_json(parked), 1)
        except KafkaSinkError as exc:
            exc.resend = self._queued == before  # part of it queued: no second copy
            raise
        if self.flush_each_write:
            self.drain()

    def _connect(self) -> None:
        """Create the producer if Kafka was unreachable when the sink was made."""
        if self._producer is not None:
            return
        from kafka import KafkaProducer

        try:
            self._producer = KafkaProducer(**self._config)
        except Exception as exc:
            raise KafkaSinkError(
                0, [f"connect {self.bootstrap}: {type(exc).__name__}: {exc}"]
            ) from exc

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
            if self._producer is not None:
                self._producer.close(timeout=self.max_block_ms / 1000)

    # -- internals -----------------------------------------------------------------------
    def _send_frame(self, name: str, frame: pd.DataFrame) -> None:
        topic = self.topics[name]
        cols = TABLES[name].column_names
        _refuse_non_finite(name, frame, cols)
        columns = [frame[c].tolist() for c in cols]
        rows = [dict(zip(cols, r, strict=False)) for r in zip(*columns, strict=True)]
        # One group per model, rows in their original order (indices are sorted positions).
        groups = frame.groupby("model", sort=False).indices
        for model, positions in groups.items():
            key = str(model).encode()
            step = self.rows_per_message
            for lo in range(0, len(positions), step):
                self._send_rows(topic, key, [rows[i] for i in positions[lo : lo + step]])

    def _send_rows(self, topic: str, key: bytes, rows: list[dict[str, Any]]) -> None:
        """One message; halves itself while the encoded value exceeds ``max_message_bytes``."""
        single = self.rows_per_message == 1  # plain objects only when asked for (see doc)
        value = self._dumps(rows[0] if single else {ROWS_FIELD: rows})
        if len(value) > self.max_message_bytes and len(rows) > 1:
            half = len(rows) // 2
            self._send_rows(topic, key, rows[:half])
            self._send_rows(topic, key, rows[half:])
            return
        self._send(topic, key, value, len(rows))

    def _send(self, topic: str, key: bytes | None, value: bytes, rows: int) -> None:
        if self._pending_bytes + len(value) > self.max_buffer_bytes and self._pending:
            self.stats.blocked += 1
            self._wait_all()  # back-pressure: the caller waits for Kafka, memory stays bounded
        assert self._producer is not None  # write() connected
        try:
            future = self._producer.send(topic, value=value, key=key)
        except Exception as exc:  # KafkaTimeoutError (metadata), MessageSizeTooLargeError, ...
            self.stats.failed[topic] += rows
            raise KafkaSinkError(rows, [f"{topic}: {type(exc).__name__}: {exc}"]) from exc
        self._queued += rows
        self._pending.append((topic, future, rows, len(value)))
        self._pending_bytes += len(value)
        self.stats.bytes_sent += len(value)
        self.stats.messages[topic] += 1

    def _wait_all(self) -> None:
        """Wait for the queued messages; raise (never asking for a re-send: these rows are
        the producer's) if any failed or is still not acknowledged. Those still in flight
        stay queued and are checked again by the next wait."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return
        reasons: list[str] = []
        try:
            assert self._producer is not None
            self._producer.flush(timeout=self.max_block_ms / 1000)
        except Exception as exc:  # KafkaTimeoutError: the broker is gone or too slow
            reasons.append(f"flush: {type(exc).__name__}: {exc}")
        failed = waiting = 0
        for item in pending:
            topic, future, rows, size = item
            if not future.is_done:
                waiting += rows
                self._pending.append(item)
                self._pending_bytes += size
            elif future.succeeded():
                self.stats.sent[topic] += rows
            else:
                failed += rows
                self.stats.failed[topic] += rows
                if len(reasons) < 5:
                    err = future.exception
                    reasons.append(f"{topic}: {type(err).__name__}: {err}")
        if waiting:
            reasons.append(f"{waiting} rows not acknowledged yet (kept queued in the producer)")
        if failed or waiting:
            raise KafkaSinkError(failed, reasons, resend=False)


def _refuse_non_finite(name: str, frame: pd.DataFrame, cols: tuple[str, ...] | list[str]) -> None:
    """NaN/inf is not JSON; Pinot's decoder would drop the row (the sink fails loudly instead)."""
    bad: np.ndarray | None = None
    for c in cols:
        values = frame[c].to_numpy()
        if values.dtype.kind == "f":
            hit = ~np.isfinite(values)
        elif values.dtype == object:  # a float NaN hiding in a string column
            hit = np.fromiter(
                (isinstance(v, float) and not math.isfinite(v) for v in values), bool, len(values)
            )
        else:
            continue
        bad = hit if bad is None else bad | hit
    if bad is not None and bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = dict(zip(cols, frame.iloc[i][list(cols)].tolist(), strict=True))
        raise KafkaSinkError(
            int(bad.sum()), [f"{name} row not JSON-safe (NaN or infinity): {row!r}"]
        )


def _parked_json(parked: ParkedEvent) -> bytes:
    return json.dumps(
        {"ts": parked.ts, "reason": parked.reason, "event": parked.event},
        separators=(",", ":"),
    ).encode()
