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
  :class:`KafkaSinkError`, whose ``unsent`` hands the rows back: those never queued and those
  the producer expired after its ``delivery_timeout_ms`` (2 min). The caller (``Monitor``)
  keeps them within its bound, so no outage loses rows uncounted. Rows still queued in the
  producer stay its to deliver (a second copy would be stored twice).
- A producer that expired rows is replaced: kafka-python's idempotent producer then drops
  its producer id and may never get one back, delivering nothing again (QA: after a 2.5 min
  outage). What it still held is handed back too; a row it had in flight when replaced may
  be stored twice, the price of not losing it. Delivery is at-least-once, not exactly-once:
  ``stats.resent_after_rebuild`` counts those rows, a bound on the duplicates.
- ``close()`` that cannot deliver everything raises and leaves the sink open; calling it
  again waits again.
- At interpreter exit the rows Monitors still buffer are flushed before the producer
  closes: kafka-python registers an exit hook closing each producer it makes, and atexit
  runs the newest hook first, so the SDK's own exit hook (registered at import) flushed
  into a closed producer and the rows were lost. The sink registers a hook of its own when
  it is made and again after each producer it makes; it flushes the Monitors writing here,
  then closes the sink, each wait on Kafka cut to ``exit_timeout_ms`` (5 s): a Kafka that
  is down costs the exit a few seconds, not ``max_block_ms`` per wait. The hook holds the
  sink weakly.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.errors import ModelHealthError
from modelhealth.ingestion.batch import PARKED, USER_ROWS, EventBatch, ParkedEvent
from modelhealth.ingestion.schema import TABLES
from modelhealth.ingestion.sdk import flush_monitors_at_exit
from modelhealth.pinot_schemas import parked_topic, topic_name

DEFAULT_MAX_BUFFER_BYTES = 32 * 1024 * 1024
DEFAULT_ROWS_PER_MESSAGE = 500
RECONNECT_BACKOFF_MAX_MS = 1_000
"""Longest wait between reconnects to a refusing broker: delivery resumes ~1 s after Kafka."""
ROWS_FIELD = "rows"
"""The array modelhealth's Pinot decoder splits into rows (its ``rowsField``, default "rows")."""
_KAFKA_MAX_REQUEST_SIZE = 1_048_576  # kafka-python's default max_request_size
EXIT_TIMEOUT_MS = 5_000
"""Longest wait on Kafka (connect, metadata, acknowledgement) at interpreter exit."""

log = logging.getLogger(__name__)

_INHERITED_PRODUCERS: list[Any] = []
"""Producers a forked child got from its parent: kept alive so the child never closes them
(their finalizer would), see :meth:`KafkaSink._check_fork`."""


class KafkaSinkError(ModelHealthError):
    """Kafka did not take some rows; says which ones the caller should keep and write again.

    ``unsent`` holds the rows that are neither delivered nor still queued in the producer
    (never handed to it, refused by it, or expired there after its delivery timeout), one
    batch per Kafka message, oldest first: the caller keeps them for the next write (and can
    drop the oldest to bound its memory), so an outage longer than the producer's timeout
    loses nothing silently. ``lost`` counts rows that can never be delivered (a non-retriable
    error such as a message Kafka calls too large), of every table; ``lost_by_table`` splits
    them by table (``inferences``, ``outcomes``, ``feature_stats``, ``feature_bins``, and
    ``parked`` records), so the caller counts lost predictions apart from lost aggregates.
    Rows still queued in the producer are neither: the sink keeps checking them and hands
    them back in a later error if they fail.
    """

    def __init__(
        self,
        failed: int,
        reasons: list[str],
        resend: bool = True,
        *,
        unsent: list[EventBatch] | None = None,
        lost: int = 0,
        lost_by_table: Mapping[str, int] | None = None,
    ) -> None:
        self.failed = failed
        self.reasons = reasons
        self.resend = resend
        """For sinks' callers that predate ``unsent``: True when the whole batch should be
        written again (no row of it reached the producer)."""
        self.unsent = unsent
        self.lost = lost
        self.lost_by_table = dict(lost_by_table or {})
        counts = [f"{failed} rows failed"] if failed else []
        if unsent:
            counts.append(f"{sum(b.rows() for b in unsent)} handed back to write again")
        if lost:
            counts.append(f"{lost} lost for good")
        summary = f" ({', '.join(counts)})" if counts else ""
        super().__init__(f"Kafka did not take every row{summary}: {'; '.join(reasons[:3])}")


@dataclass
class SinkStats:
    """What the sink did, for a model server to export (per topic; rows, not messages).

    ``failed`` counts failed delivery attempts in rows (a row handed back, written again and
    failing again counts twice); ``returned`` the rows handed back to the caller to write
    again. ``lost_by_table`` counts the rows that could never be delivered (non-retriable
    errors) per table, aggregates included; ``lost`` only the predictions, labels and parked
    records among them (:data:`~modelhealth.ingestion.batch.USER_ROWS`), the rows a
    ``Monitor`` counts in ``stats.dropped_rows``. ``rebuilds`` counts how often a producer
    that stopped working was replaced, ``resent_after_rebuild`` the rows it still held then,
    handed back to be written again: Kafka may have stored some of them already, so this
    bounds the duplicates a replacement can cause (delivery is at-least-once).
    """

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    returned: int = 0
    lost: int = 0
    lost_by_table: Counter[str] = field(default_factory=Counter)
    rebuilds: int = 0
    resent_after_rebuild: int = 0
    bytes_sent: int = 0
    blocked: int = 0  # times the bounded buffer made the caller wait


@dataclass(frozen=True)
class _Message:
    """One encoded Kafka message and what it stands for (to hand its rows back if it fails)."""

    topic: str
    key: bytes | None
    value: bytes
    rows: int


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
    """Writes :class:`EventBatch` rows to ``modelhealth.<table>`` topics (see module doc).

    Delivery is at-least-once, not exactly-once: no row is lost uncounted, but when a
    producer that stopped delivering is replaced, the rows it still held are handed back and
    written again, and Kafka may already have stored some of them, so they are stored twice.
    ``stats.resent_after_rebuild`` counts the rows handed back that way (every table): at
    most that many duplicates. A duplicated prediction or label keeps its ``request_id``, so
    a consumer that must not count one twice can dedup on it; a duplicated feature-stats or
    histogram row adds its counts twice.
    """

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
        exit_timeout_ms: int = EXIT_TIMEOUT_MS,
    ) -> None:
        from kafka import KafkaProducer

        from modelhealth.services import ports

        if max_buffer_bytes <= 0:
            raise ValueError("max_buffer_bytes must be positive")
        if rows_per_message < 1:
            raise ValueError(f"rows_per_message must be >= 1, got {rows_per_message}")
        unknown = sorted(set(producer_config or {}) - set(KafkaProducer.DEFAULT_CONFIG))
        if unknown:  # checked here: the producer itself is only made at the first write
            raise ValueError(f"producer_config: unknown kafka-python producer keys {unknown}")
        self.bootstrap = bootstrap or ports.KAFKA_BOOTSTRAP
        self.namespace = namespace
        self.topics = {name: topic_name(name, namespace) for name in TABLES}
        self._tables = {topic: name for name, topic in self.topics.items()}
        self.parked_topic = parked_topic(namespace)
        self.rows_per_message = rows_per_message
        self.max_buffer_bytes = max_buffer_bytes
        self.max_block_ms = max_block_ms
        self.flush_each_write = flush_each_write
        self.exit_timeout_ms = exit_timeout_ms
        self.stats = SinkStats()
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "compression_type": compression or default_compression(),
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "max_block_ms": max_block_ms,
            "metrics_enabled": False,  # ~15% of send() time on a busy 2-core box
            "client_id": "modelhealth-sdk",
            # kafka-python backs off up to 30 s between reconnects to a broker that kept
            # refusing; after an outage the sink then stayed blind that long once Kafka was
            # back (CI: three close() retries failed after the restart). Java's default is 1 s.
            "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        }
        if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:  # kafka-python 3
            # it waits that long (30 s) for an unreachable broker when the producer is made
            config["bootstrap_timeout_ms"] = max_block_ms
        config.update(producer_config or {})
        # Headroom for the record and batch framing Kafka adds around our value.
        self.max_message_bytes = int(config.get("max_request_size", _KAFKA_MAX_REQUEST_SIZE) * 0.9)
        self._dumps = json_encoder()
        self._config = config
        # Made at the first write, never here: kafka-python's constructor waits up to
        # bootstrap_timeout_ms for the broker, and a model server starting while Kafka is
        # down stalled 30 s in its start-up (QA).
        self._producer: KafkaProducer | None = None
        self._pending: list[tuple[_Message, Any]] = []  # sent, not yet known to be delivered
        self._pending_bytes = 0
        self._returned: list[_Message] = []  # failed retriably: handed back by the next error
        self._lost: Counter[str] = Counter()  # per table: rows failed for good since the last error
        self._failed = 0  # rows whose delivery failed since the last error
        self._gave_up: list[_Message] = []  # the message a send refused for good, if any
        self._closed = False
        self._pid = os.getpid()  # the process the producer belongs to (see _check_fork)
        self._exit_hook: Callable[[], None] | None = None  # registered after the producer's
        self._hook_exit()  # before the SDK's own (for a producer made at exit: bounded waits)

    # -- Sink protocol -------------------------------------------------------------------
    def write(self, batch: EventBatch) -> None:
        """Send every row of ``batch``; raise :class:`KafkaSinkError` if any delivery failed.

        With ``flush_each_write`` (default) this returns only after Kafka acknowledged the
        batch, so a returning ``Monitor.flush`` means the events are durable in Kafka. The
        error's ``unsent`` holds every row the caller must keep (see :class:`KafkaSinkError`).
        """
        self._check_fork()
        if self._closed:
            raise KafkaSinkError(batch.rows(), ["sink is closed"], unsent=[batch])
        messages = self._encode(batch)
        for i, message in enumerate(messages):
            reasons = self._send(message)
            if reasons:  # the rest waits for the next write (Kafka is likely down)
                rest = messages[i + 1 :] if message in self._gave_up else messages[i:]
                self._raise(reasons, leftover=rest, resend=i == 0 and not self._lost)
        if self.flush_each_write:
            self.drain()

    def drain(self) -> None:
        """Block until everything sent is acknowledged; raise on any failed delivery."""
        self._check_fork()
        self._raise(self._wait_all())

    def close(self) -> None:
        """Deliver what is queued, then close the producer (idempotent).

        If some rows are not delivered, raise :class:`KafkaSinkError` (its ``unsent`` rows are
        the caller's again) and stay open: the producer keeps what it still holds, and a later
        ``close()`` waits for it again. Closing the producer then cannot lose anything.
        """
        self._check_fork()
        if self._closed:
            return
        self.drain()
        self._closed = True
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self.max_block_ms / 1000)
            except Exception as exc:  # nothing is queued any more: only the thread is left
                log.warning("modelhealth: closing the Kafka producer: %s", exc)

    # -- internals -----------------------------------------------------------------------
    def _check_fork(self) -> None:
        """In a child made by ``os.fork()`` (gunicorn's pre-fork workers), forget the
        parent's producer and what it holds, so the child makes a producer of its own.

        The producer's I/O thread does not run in a child: each write there waited
        ``max_block_ms`` and failed, and nothing the child logged reached Kafka (QA). The
        messages it holds are the parent's to deliver (and count). It is kept, never closed
        nor closed at exit: that would shut down sockets the parent still uses."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        producer, self._producer = self._producer, None
        if producer is not None:
            _INHERITED_PRODUCERS.append(producer)
            cleanup = getattr(producer, "_cleanup", None)  # kafka-python's exit hook
            if cleanup is not None:
                atexit.unregister(cleanup)
        self._pending, self._pending_bytes, self._returned = [], 0, []
        self._lost, self._failed, self._gave_up = Counter(), 0, []
        self.stats = SinkStats()

    def _connect(self) -> list[str]:
        """Make the producer if there is none (first write, Kafka down, or it was rebuilt);
        the reason it failed, if it did."""
        if self._producer is not None:
            return []
        from kafka import KafkaProducer

        try:
            self._producer = KafkaProducer(**self._config)
        except Exception as exc:
            return [f"connect {self.bootstrap}: {type(exc).__name__}: {exc}"]
        self._hook_exit()
        return []

    def _hook_exit(self) -> None:
        """(Re-)register :meth:`_at_exit` as the newest exit hook: when the sink is made,
        and after each producer it makes registered its own exit hook, which closes it.
        atexit runs the newest hook first, so the Monitors' rows are flushed while the
        producer is still open (see the module doc). Holds the sink weakly, as
        kafka-python's hook holds its producer."""
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
        ref = weakref.ref(self)

        def hook() -> None:
            sink = ref()
            if sink is not None:
                sink._at_exit()

        self._exit_hook = hook
        atexit.register(hook)

    def _at_exit(self) -> None:
        """Interpreter exit: flush the Monitors writing here, then close, every wait on
        Kafka at most ``exit_timeout_ms``. Never raises: what cannot be delivered is logged
        as lost (by the Monitor for its rows, here for rows the producer still held)."""
        self._check_fork()
        if self._closed:
            return
        self._cut_waits(self.exit_timeout_ms)
        try:
            if flush_monitors_at_exit(self, self.exit_timeout_ms / 1000):
                self.close()
                return
        except Exception as exc:
            log.error("modelhealth: at exit, Kafka did not take every row: %s", exc)
        # Kafka is not taking rows: waiting again (close(), or kafka-python's own exit hook
        # flushing the producer) cannot help; say what is lost and stop the producer now.
        held = sum(message.rows for message, _ in self._pending)
        if held:
            log.error("modelhealth: at exit, %d rows still queued for Kafka are lost", held)
        self._closed = True
        producer, self._producer = self._producer, None
        self._pending, self._pending_bytes = [], 0
        _force_close(producer)

    def _cut_waits(self, timeout_ms: int) -> None:
        """Wait on Kafka at most ``timeout_ms`` from now on: the sink's flush and close,
        the producer's metadata wait in ``send`` (its ``max_block_ms``), and the connect of
        a producer made from now on."""
        ms = min(self.max_block_ms, timeout_ms)
        self.max_block_ms = ms
        for key in ("max_block_ms", "bootstrap_timeout_ms"):
            if key in self._config:
                self._config[key] = min(self._config[key], ms)
        config = getattr(self._producer, "config", None)
        if isinstance(config, dict) and "max_block_ms" in config:
            config["max_block_ms"] = min(config["max_block_ms"], ms)

    def _encode(self, batch: EventBatch) -> list[_Message]:
        """Every message of ``batch`` (parked records last); refuses NaN/inf before any send."""
        messages: list[_Message] = []
        for name, frame in batch.frames().items():
            if len(frame):
                messages.extend(self._frame_messages(name, frame))
        for parked in batch.parked:
            messages.append(_Message(self.parked_topic, None, _parked_json(parked), 1))
        return messages

    def _frame_messages(self, name: str, frame: pd.DataFrame) -> list[_Message]:
        """The messages of one table's rows: per model, in their original order, at most
        ``rows_per_message`` rows each. Each message's row dicts are made when it is encoded
        and dropped after: made for the whole frame first (50,000 dicts for a flush), they
        outlived enough collections to set off a full one, which walked every object of the
        process (50 ms) while request threads waited in ``log()`` for the GIL."""
        topic = self.topics[name]
        cols = TABLES[name].column_names
        _refuse_non_finite(name, frame, cols)
        columns = [frame[c].tolist() for c in cols]
        # One group per model, rows in their original order (indices are sorted positions).
        groups = frame.groupby("model", sort=False).indices
        out: list[_Message] = []
        for model, positions in groups.items():
            key = str(model).encode()
            mine = columns
            if len(groups) > 1:
                mine = [[values[i] for i in positions] for values in columns]
            step = self.rows_per_message
            for lo in range(0, len(positions), step):
                part = zip(*(values[lo : lo + step] for values in mine), strict=True)
                self._split(topic, key, [dict(zip(cols, r, strict=False)) for r in part], out)
        return out

    def _split(
        self, topic: str, key: bytes, rows: list[dict[str, Any]], out: list[_Message]
    ) -> None:
        """One message; halves itself while the encoded value exceeds ``max_message_bytes``."""
        single = self.rows_per_message == 1  # plain objects only when asked for (see doc)
        value = self._dumps(rows[0] if single else {ROWS_FIELD: rows})
        if len(value) > self.max_message_bytes and len(rows) > 1:
            half = len(rows) // 2
            self._split(topic, key, rows[:half], out)
            self._split(topic, key, rows[half:], out)
            return
        out.append(_Message(topic, key, value, len(rows)))

    def _send(self, message: _Message) -> list[str]:
        """Hand ``message`` to the producer; the reasons it could not (then it was not sent)."""
        if self._pending_bytes + len(message.value) > self.max_buffer_bytes and self._pending:
            self.stats.blocked += 1
            reasons = self._wait_all()  # back-pressure: the caller waits, memory stays bounded
            if reasons:
                return reasons
        reasons = self._connect()
        if reasons:
            return reasons
        assert self._producer is not None
        try:
            future = self._producer.send(message.topic, value=message.value, key=message.key)
        except Exception as exc:  # KafkaTimeoutError (metadata), MessageSizeTooLargeError, ...
            self.stats.failed[message.topic] += message.rows
            self._failed += message.rows
            if not getattr(exc, "retriable", False):  # e.g. too large: no retry can help
                self._lost[self._table_of(message)] += message.rows
                self._gave_up = [message]
            return [self._send_problem(message.topic, exc)]
        self._pending.append((message, future))
        self._pending_bytes += len(message.value)
        self.stats.bytes_sent += len(message.value)
        self.stats.messages[message.topic] += 1
        return []

    def _send_problem(self, topic: str, exc: Exception) -> str:
        """Why ``send`` failed; names a topic the cluster does not have (a metadata timeout
        otherwise reads as "Kafka down"): the broker answered metadata requests while the
        send waited, and never listed the topic."""
        cluster = getattr(self._producer, "_metadata", None)
        try:  # kafka-python's ClusterMetadata internals; if they moved, the plain reason
            age_ms = time.monotonic() * 1000 - cluster._last_successful_refresh_ms  # type: ignore[union-attr]
            missing = age_ms < self.max_block_ms and topic not in cluster.topics()  # type: ignore[union-attr]
        except Exception:
            missing = False
        if missing:
            ns = f" --namespace {self.namespace}" if self.namespace else ""
            return (
                f"topic {topic!r} does not exist on Kafka at {self.bootstrap} (the broker does "
                f"not create topics): create it with `modelhealth pinot init{ns}` "
                f"({type(exc).__name__} waiting for its metadata)"
            )
        return f"{topic}: {type(exc).__name__}: {exc}"

    def _wait_all(self) -> list[str]:
        """Wait for the queued messages; the reasons if some are not delivered.

        Failed messages go to ``_returned`` (retriable: the caller writes their rows again)
        or count as lost; those still in flight stay queued and are checked by the next wait.
        A retriable failure (the producer expired a batch after its delivery timeout) also
        replaces the producer: kafka-python's idempotent producer then resets its producer
        id to -1 and, if the batch had been sent before, never gets a new one, so it never
        delivers again (QA: nothing delivered after a 2.5 min outage, Kafka back).
        """
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return []
        reasons: list[str] = []
        try:
            assert self._producer is not None
            self._producer.flush(timeout=self.max_block_ms / 1000)
        except Exception as exc:  # KafkaTimeoutError: the broker is gone or too slow
            reasons.append(f"flush: {type(exc).__name__}: {exc}")
        broken = False
        for message, future in pending:
            if not future.is_done:
                self._pending.append((message, future))
                self._pending_bytes += len(message.value)
            elif future.succeeded():
                self.stats.sent[message.topic] += message.rows
            else:
                err = future.exception
                self.stats.failed[message.topic] += message.rows
                self._failed += message.rows
                if getattr(err, "retriable", False):
                    self._returned.append(message)
                    broken = True
                else:
                    self._lost[self._table_of(message)] += message.rows
                if len(reasons) < 5:
                    reasons.append(f"{message.topic}: {type(err).__name__}: {err}")
        if broken:
            self._rebuild()
        waiting = sum(m.rows for m, _ in self._pending)
        if waiting:
            reasons.append(
                f"{waiting} rows still queued in the producer (delivered or handed back later)"
            )
        return reasons

    def _rebuild(self) -> None:
        """Drop the producer (the next send makes a new one); what it still holds is handed
        back for the caller to write again. A row the old producer had in flight may thus
        be stored twice; losing it was the alternative."""
        producer, self._producer = self._producer, None
        self._returned.extend(message for message, _ in self._pending)
        self.stats.resent_after_rebuild += sum(message.rows for message, _ in self._pending)
        self._pending, self._pending_bytes = [], 0
        self.stats.rebuilds += 1
        log.warning("modelhealth: Kafka producer expired rows; replacing it")
        _force_close(producer)  # fails what it holds (those rows are handed back above)

    def _raise(
        self, reasons: list[str], leftover: Sequence[_Message] = (), resend: bool = False
    ) -> None:
        """Raise :class:`KafkaSinkError` handing back the failed and ``leftover`` (never sent)
        messages' rows, if there is anything to report."""
        if not reasons and not leftover and not self._returned and not self._lost:
            return
        returned, self._returned = [*self._returned, *leftover], []
        lost, self._lost = self._lost, Counter()
        failed, self._failed = self._failed, 0
        self._gave_up = []
        self.stats.returned += sum(m.rows for m in returned)
        self.stats.lost_by_table.update(lost)
        self.stats.lost += sum(n for table, n in lost.items() if table in USER_ROWS)
        raise KafkaSinkError(
            failed,
            reasons,
            resend=resend and not lost and len(returned) == len(leftover),
            unsent=self._decode(returned),
            lost=sum(lost.values()),
            lost_by_table=lost,
        )

    def _table_of(self, message: _Message) -> str:
        """The table a message's rows belong to (:data:`PARKED` for parked records)."""
        return self._tables.get(message.topic, PARKED)

    def _decode(self, messages: list[_Message]) -> list[EventBatch]:
        """The rows of ``messages`` as batches again, one per message so a caller bounding
        what it keeps drops the oldest first; values exactly as they were sent (object
        columns: a None stays None, an int stays an int)."""
        return [self._decode_one(m) for m in messages]

    def _decode_one(self, message: _Message) -> EventBatch:
        value = json.loads(message.value)
        if message.topic == self.parked_topic:
            parked = ParkedEvent(reason=value["reason"], event=value["event"], ts=value["ts"])
            return EventBatch(parked=[parked])
        name = self._tables[message.topic]
        rows = value.get(ROWS_FIELD, [value])
        cols = TABLES[name].column_names
        frame = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols})
        batch = EventBatch()
        setattr(batch, name, frame)
        return batch


def _force_close(producer: Any) -> None:
    """Close ``producer`` at once, failing what it still holds: its ``close()`` would flush
    first and time out on a queue Kafka is not taking."""
    if producer is None:
        return
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(timeout=1.0)
    try:
        producer.close(timeout=0)
    except Exception as exc:
        log.debug("modelhealth: closing a Kafka producer: %s", exc)


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
