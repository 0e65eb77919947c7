"""The client model servers call once per inference (or once per batch of inferences).

    monitor = Monitor(sink, references={"fraud": ref})
    monitor.log(model="fraud", version="v3", features={"amount": 12.5, "country": "DE"},
                score=0.91, latency_ms=14.2, request_id="r-1")

Events are buffered and aggregated on flush: feature values become per-bucket statistics and
histogram rows (cheap to store, comparable across windows); latency and score stay per request
so the store computes exact percentiles. A malformed event is parked with its reason and
counted; it never raises and never drops the rest of the batch.

Failure model (why): the model server must never fail a request because monitoring did, and
good data must never vanish silently. So ``log``, ``log_batch`` and ``log_outcome`` never raise:
every value is validated when it is logged (a flush must not fail on user input), and the
automatic flush inside ``log``, ``log_batch`` and ``log_outcome`` counts and logs a sink error
instead of raising it (then backs off, see ``_auto_flush``). A batch the sink refused is kept
and written again by the next flush. A sink may say which rows it did not take (``unsent`` on
its error, e.g. Kafka's: rows never queued, or expired in its producer; rows the producer
still holds are its to deliver, a second copy would be stored twice) and which it can never
deliver (``lost``, counted in ``stats.dropped_rows``); a sink without ``unsent`` may say it
handed the whole batch on (``resend`` False). At most ``max_unsent_rows`` rows are kept (and
as many feature-aggregate rows), the oldest dropped beyond that and counted in
``stats.dropped_rows``. ``dropped_rows`` counts predictions, labels and parked records only,
one per thing the user logged; ``stats.dropped_by_table`` breaks drops down per table, the
aggregate rows (``feature_stats``, ``feature_bins``) included. While the sink fails the
buffers hold at most ``max_buffered`` rows (default 10 x ``max_batch``; ``log``, ``log_batch``
and ``log_outcome`` alike): with ``background=True`` always (the flusher may be stuck on the
sink at any time), without it while automatic flushes back off (up to :data:`RETRY_MAX_S`; a
server logging 5,000 events/s buffered 300,000 of them per minute of outage) or while one
request thread's flush waits on the sink (the other threads do not wait for it). Beyond it the
newest rows are refused, counted in ``stats.dropped_rows``, and one warning per episode (until
a flush succeeds) says so. An explicit
:meth:`Monitor.flush` (and :meth:`Monitor.close`) re-raises the sink's error so the caller can
see it; a :meth:`Monitor.close` that failed can be called again. After a ``close()`` that
succeeded, ``log``, ``log_batch`` and ``log_outcome`` refuse rows (False, 0) and count them in
``stats.dropped_rows``: the sink is closed, whichever it is.

Last resort (why): validation parks every malformed input it knows of, but a model server
passes objects of its own (a float subclass whose ``__float__`` raises, a name whose
``__hash__`` does, a ``Mapping`` that fails to iterate) and a sink may raise anything. So
``log``, ``log_batch`` and ``log_outcome`` contain any ``Exception`` that escapes them
(:meth:`Monitor._contain`): the event is parked as ``unexpected_error`` (dropped and
counted if not even that works), ``stats.unexpected_errors`` counts it, at most one log line
per :data:`ERROR_LOG_EVERY_S` says so, and the call returns normally. Only ``Exception`` is
contained: KeyboardInterrupt, SystemExit and the cancellations of async and green-thread
servers (``BaseException``) are the server's to handle.

A DuckDB sink is single-process (:func:`~modelhealth.ingestion.forking.single_process`): a
child made by ``os.fork()`` refuses the rows of a Monitor that writes to one (counted in
``stats.dropped_rows``, one warning) instead of writing through its parent's connection,
whether the Monitor was made before the fork or after it around a ``DuckDBStore`` opened
before it (:func:`~modelhealth.ingestion.forking.inherited`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

import numpy as np
import pandas as pd

from modelhealth.clock import Clock, SystemClock, to_epoch_ms
from modelhealth.ingestion.aggregate import aggregate_block
from modelhealth.ingestion.batch import (
    PARKED,
    EventBatch,
    ParkedEvent,
    Sink,
    bound_unsent,
    concat,
)
from modelhealth.ingestion.batching import feature_columns, group_events, row_columns
from modelhealth.ingestion.columns import (
    BatchColumns,
    CheckedRows,
    batch_columns,
    check_rows,
    parked_value,
    rows_given,
    take,
    unreadable_rows,
)
from modelhealth.ingestion.forking import inherited, never_finalize, single_process
from modelhealth.ingestion.hooks import OPEN_MONITORS, flush_monitors_at_exit
from modelhealth.ingestion.parked import event_json, log_args
from modelhealth.ingestion.reference import ModelReference
from modelhealth.ingestion.schema import FEATURE_BINS, FEATURE_STATS, INFERENCES, OUTCOMES
from modelhealth.ingestion.stats import UNKNOWN_TABLE, IngestStats, describe, lost_by_table
from modelhealth.ingestion.validate import (
    EventRejected,
    request_id_problem,
    shown,
    valid_label,
    valid_name,
    valid_ts_ms,
    validate_event,
)
from modelhealth.ingestion.validate import unreadable_value as _unreadable
from modelhealth.names import NAME_RULE

__all__ = ["UNKNOWN_TABLE", "IngestStats", "Monitor", "flush_monitors_at_exit"]

log = logging.getLogger(__name__)

RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0
"""Back-off of automatic flushes after a sink failure (see ``Monitor._auto_flush``)."""
MAX_PARKED_ROWS = 1000
"""Bad rows of one ``log_batch`` parked with their values; the rest are only counted."""

FULL, BUSY, CLOSED, FORKED = "full", "busy", "closed", "forked"
_REFUSALS = {
    FULL: "modelhealth: Monitor buffers are full (max_buffered={max_buffered} rows) while the"
    " sink fails; newer rows are refused and counted in stats.dropped_rows until a flush"
    " succeeds",
    BUSY: "modelhealth: Monitor buffers are full (max_buffered={max_buffered} rows) while the"
    " background flusher waits on the sink (slow, or not answering yet); newer rows are"
    " refused and counted in stats.dropped_rows (warned once per Monitor)",
    CLOSED: "modelhealth: Monitor logged to after close(); its rows are refused and counted in"
    " stats.dropped_rows (close it once requests stop logging)",
    FORKED: "modelhealth: process {pid} was forked from the process that opened this Monitor's"
    " DuckDB store; a DuckDB file takes one writing process and a DuckDB connection cannot be"
    " used from a fork (its writes corrupted the file), so this process's rows are refused"
    " and counted in stats.dropped_rows. With a pre-fork server (gunicorn preload_app) use"
    " KafkaSink, or make the DuckDBStore and the Monitor in each worker after the fork (one"
    " file per worker, e.g. in gunicorn's post_fork hook)",
}
"""Why a Monitor refuses rows -> its one warning (``str.format`` with ``max_buffered`` and
``pid``). FULL only when a flush failed since the last one that succeeded: rows refused
while a healthy sink is merely being written to (BUSY) were reported as a failing sink."""
BUFFER_BELOW_BATCH = (
    "modelhealth: Monitor(background=True) with max_buffered={max_buffered} below"
    " max_batch={max_batch}: the buffers fill before a batch of max_batch rows is due, so rows"
    " are refused whenever the sink takes a moment to write (not because it fails); set"
    " max_buffered to at least max_batch (the default is 10 x max_batch = {default}), or"
    " max_batch to at most {max_buffered}"
)
"""Warned at construction (see :meth:`Monitor._check_bounds`)."""
UNEXPECTED = "unexpected_error"
"""``stats.parked`` key (and parked reason) of an event :meth:`Monitor._contain` caught."""
ERROR_LOG_EVERY_S = 60.0
"""At most one log line per this many seconds about contained errors: a server whose every
request carries the same bad object logs one line a minute, not one per request."""

MAX_SEEN_FEATURES = 1000
"""Features a Monitor remembers per model version from what it logged (beyond the model's
reference's, which it always knows), so an event lacking one counts as a null of it (see
:meth:`Monitor.log`). A version logging more names (sparse features as keys) has its further
ones counted only in the flush that holds them, from the first event that has them: a bound
on memory and on the feature-stats rows every flush writes."""


class Monitor:
    """Buffers inference events and flushes aggregated batches to a sink.

    Thread-safe: many request threads may call :meth:`log` concurrently. ``max_unsent_rows``
    (default ``max_batch``) bounds what is kept for retry while the sink fails (see the module
    doc); the batch that failed last is always kept whole. ``background=True`` flushes from a
    thread of its own (see :meth:`_flush_loop`), so ``log()`` never waits for the sink; use it
    with a sink that can block, such as Kafka's. :meth:`close` stops that thread.
    ``max_buffered`` (default 10 x ``max_batch``) bounds the rows waiting for a flush while
    the sink fails, in either mode (see :meth:`_room`).
    """

    def __init__(
        self,
        sink: Sink,
        references: Mapping[str, ModelReference] | None = None,
        *,
        bucket: timedelta = timedelta(minutes=1),
        max_batch: int = 50_000,
        flush_interval: timedelta = timedelta(seconds=5),
        default_host: str = "unknown",
        clock: Clock | None = None,
        max_unsent_rows: int | None = None,
        background: bool = False,
        max_buffered: int | None = None,
    ) -> None:
        self.sink = sink
        self.references = dict(references or {})
        self.bucket_ms = int(bucket.total_seconds() * 1000)
        if self.bucket_ms <= 0:
            raise ValueError("bucket must be positive")
        self.max_batch = max_batch
        self.flush_interval_s = flush_interval.total_seconds()
        self.default_host = default_host
        self.clock = clock or SystemClock()
        self.stats = IngestStats()
        self._lock = threading.Lock()
        # ValidEvents split in two so the GC walks none of them (see ValidEvent's doc):
        # plain tuples of every field but the features, and the features dicts
        self._events: list[tuple[object, ...]] = []
        self._features: list[Mapping[str, object]] = []
        # per event of _events: how many features its version had been seen with by then
        self._events_seen: list[int] = []
        # (model, version) -> feature -> the order it was first seen in; and the kind stored
        self._seen: dict[tuple[str, str], dict[str, int]] = {}
        self._kinds: dict[tuple[str, str], dict[str, str]] = {}
        self._capped: set[tuple[str, str]] = set()  # more than MAX_SEEN_FEATURES names logged
        self._blocks: list[EventBatch] = []
        self._block_rows = 0  # inference rows in _blocks (log_batch), for the max_batch check
        self._reserved_rows = 0  # log_batch rows being aggregated, counted against max_buffered
        self._outcomes: list[dict[str, object]] = []
        self._parked: list[ParkedEvent] = []
        self._unsent: list[EventBatch] = []  # batches the sink refused, oldest first
        self.max_unsent_rows = max_batch if max_unsent_rows is None else max_unsent_rows
        self._last_flush = self.clock.monotonic()
        self._retry_at = 0.0  # automatic flushes wait until then after a sink failure
        self._backoff_s = 0.0
        self._flush_lock = threading.Lock()  # one flush at a time: sinks need not be thread-safe
        self.max_buffered = 10 * max_batch if max_buffered is None else max_buffered
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._exit_tried = False  # a sink's exit hook flushed it (flush_monitors_at_exit)
        self._closed = False  # close() ran (or runs): rows are refused, see _room
        self._warned: set[str] = set()  # refusals warned of (_refuse)
        self._sink_failing = False  # a flush failed since the last that succeeded (_full_because)
        self._fork_of_sink_owner = False  # in a fork of a single-process sink's process (_forked)
        self._error_log_at = 0.0  # no log line about contained errors before (_log_contained)
        self._errors_unlogged = 0  # contained errors since the last such line
        OPEN_MONITORS.add(self)  # closed at exit if the owner did not (hooks._close_at_exit)
        if inherited(sink):  # made in a fork around its parent's DuckDB store: as in _forked
            self._fork_of_sink_owner = True
            never_finalize(sink)
        if background:
            self._check_bounds()
            if not self._fork_of_sink_owner:
                self._start_flusher()

    def _check_bounds(self) -> None:
        """Warn once if ``max_buffered < max_batch`` with ``background=True``: the flusher
        writes when ``max_batch`` rows wait, so the buffers filled first and every row beyond
        them, until ``flush_interval`` passed, was refused with a warning blaming the sink
        (which never failed). The flusher is now also woken when the buffers are full (see
        :meth:`_room`), but without headroom rows are refused while it writes."""
        if self.max_buffered < self.max_batch:
            log.warning(
                BUFFER_BELOW_BATCH.format(
                    max_buffered=self.max_buffered,
                    max_batch=self.max_batch,
                    default=10 * self.max_batch,
                )
            )

    def _start_flusher(self) -> None:
        """The ``background=True`` thread (also restarted in a forked child: see _forked)."""
        self._thread = threading.Thread(
            target=self._flush_loop, name="modelhealth-flush", daemon=True
        )
        self._thread.start()

    # -- per-event API -------------------------------------------------------------------
    def log(
        self,
        *,
        model: str,
        version: str,
        features: Mapping[str, object],
        score: float,
        latency_ms: float,
        request_id: str | None = None,
        host: str | None = None,
        ts: object = None,
        is_error: bool = False,
    ) -> bool:
        """Record one inference; returns False (and parks it) if the event is malformed.

        A feature the Monitor knows that ``features`` lacks is a null of it: every feature of
        the model's reference, and every feature this Monitor has logged for the model
        version before (the first :data:`MAX_SEEN_FEATURES`; another version's are not
        counted: a canary adding a feature does not make the old version's events nulls of
        it). A feature without a reference is unknown until the version first logs it: its
        events logged before that do not count for it at all (neither as a value nor as a
        null), whichever flush holds them, so null counts never depend on when flushes
        happen. The same holds for :meth:`log_batch`: a known feature its ``features`` lacks
        is a null in every row.

        Never raises: if the buffer is due for a flush and the sink fails, the error is counted
        in ``stats.flush_errors`` and logged, and the rows are kept for the next flush. Any
        other ``Exception`` (an argument of the caller's own type failing when read) parks
        the event as ``unexpected_error`` (see :meth:`_contain`).
        """
        try:
            now_ms = to_epoch_ms(self.clock.now())
            try:
                event = validate_event(
                    model=model,
                    version=version,
                    features=features,
                    score=score,
                    latency_ms=latency_ms,
                    request_id=request_id,
                    host=host or self.default_host,
                    ts=ts,
                    is_error=is_error,
                    default_ts_ms=now_ms,
                )
            except EventRejected as exc:
                args = log_args(model, version, features, score, latency_ms, request_id, host, ts)
                self._park(exc.code, str(exc), args, now_ms)
                return False
            with self._lock:
                if not self._room(1, INFERENCES.name):
                    return False  # the background flusher is stuck on the sink: bound memory
                seen = self._seen.get((event.model, event.version))
                if seen is None or not seen.keys() >= event.features.keys():
                    seen = self._see(event.model, event.version, event.features)
                self._events.append(event[:-1])  # a plain tuple: the GC untracks it
                self._features.append(event.features)
                self._events_seen.append(len(seen))
                self.stats.accepted += 1
                full = len(self._events) >= self.max_batch
        except Exception as exc:  # last resort: the request must go on (see _contain)
            args = log_args(model, version, features, score, latency_ms, request_id, host, ts)
            self._contain(exc, "log", args, rows=1, table=INFERENCES.name)
            return False
        self._flush_if_due(full)
        return True

    def log_outcome(self, *, model: str, request_id: str, label: float, ts: object = None) -> bool:
        """Record the real-world outcome (label) of an earlier prediction, joined later.

        The label is any finite number (bools and numpy scalars included); NaN/inf labels, a
        bad ``ts`` (as for :meth:`log`) or a missing/oversized request id are parked. Returns
        False for a parked label, and for a label the full buffers refused while the sink
        fails (counted in ``stats.dropped_rows``, as :meth:`log` counts events; see
        :meth:`_room`). Never raises (see :meth:`_contain`).
        """
        try:
            now_ms = to_epoch_ms(self.clock.now())
            try:
                model = valid_name(model, "model")
                problem = request_id_problem(request_id) if request_id != "" else "it is empty"
                if problem is not None:
                    raise EventRejected(
                        "bad_request_id",
                        f"outcome needs a non-empty request_id ({problem}): {shown(request_id)}",
                    )
                row = {"model": model, "request_id": request_id, "label": valid_label(label)}
                row["ts"] = valid_ts_ms(ts, now_ms)
            except EventRejected as exc:
                raw = {"model": model, "request_id": request_id, "label": label, "ts": ts}
                self._park(exc.code, str(exc), raw, now_ms)
                return False
            with self._lock:
                if not self._room(1, OUTCOMES.name):
                    return False  # as in log(): the background flusher is stuck on the sink
                self._outcomes.append(row)
                self.stats.outcomes += 1
                full = len(self._outcomes) >= self.max_batch
        except Exception as exc:  # last resort, as in log()
            raw = {"model": model, "request_id": request_id, "label": label, "ts": ts}
            self._contain(exc, "log_outcome", raw, rows=1, table=OUTCOMES.name)
            return False
        self._flush_if_due(full)
        return True

    # -- columnar API ----------------------------------------------------------------------
    def log_batch(
        self,
        *,
        model: str,
        version: str,
        features: Mapping[str, Sequence[object] | np.ndarray],
        score: Sequence[float] | np.ndarray,
        latency_ms: Sequence[float] | np.ndarray,
        ts_ms: Sequence[int] | np.ndarray | None = None,
        request_ids: Sequence[str | None] | None = None,
        host: str | None = None,
        is_error: Sequence[bool] | np.ndarray | None = None,
    ) -> int:
        """Record many inferences of one model version at once (vectorised, ~1M events/s).

        Row by row, as :meth:`log` checks one event: a row whose ``ts_ms`` is not epoch ms in
        [1970, 2200) (a number below 1e11 is epoch seconds, as for ``log(ts=)``), whose
        latency is not a finite number >= 0, whose score is not a finite number, whose
        request id is neither None nor a string of <= 256 characters free of control
        characters (NUL, tab, newline: Pinot cuts a string at NUL), or with a feature value
        that is not a number, string, bool, None or pd.NA is parked with that reason;
        the other rows go through. A batch that cannot be read row by row (a bad model, version
        or host name, ``features`` not a mapping, a column that is not 1-D or whose length is
        not ``len(latency_ms)``) is parked as one record naming the model and the row count,
        and all its rows are counted in ``stats.parked``. A feature with an invalid name is
        parked once and dropped; its rows are kept. A feature the Monitor knows (see
        :meth:`log`) that ``features`` lacks is a null in every row. Never raises; returns
        the rows accepted.

        ``ts_ms`` may also be datetimes: a numpy datetime64 array or a pandas datetime
        Series / DatetimeIndex (``df["ts"]``), read as UTC when tz-naive and converted when
        tz-aware (a datetime64 is never read as epoch seconds); a NaT row is parked as
        ``bad_ts`` like any bad row. A list of datetimes is read as :meth:`log` reads each.

        The batch shares :meth:`log`'s bound (see :meth:`_room`): while the sink fails at
        most ``max_buffered`` rows wait for a flush, so a model server logging batches while
        Kafka is down keeps its memory. As in :meth:`log`, what is buffered stays and the
        newest rows are refused: the first rows of the batch that fit are accepted, the rest
        counted in ``stats.dropped_rows`` (and ``stats.dropped_by_table["inferences"]``).
        """
        try:
            now_ms = to_epoch_ms(self.clock.now())
            host = host or self.default_host
            try:
                for what, name in (("model", model), ("version", version), ("host", host)):
                    valid_name(name, what)
                cols = batch_columns(features, score, latency_ms, ts_ms, request_ids, is_error)
                checked = check_rows(cols, now_ms)
            except EventRejected as exc:
                rows = rows_given(latency_ms)
                self._park(
                    exc.code,
                    f"{exc}; all {rows} rows of the batch rejected",
                    {"model": model, "version": version, "host": host, "rows": rows},
                    now_ms,
                    rows=rows,
                )
                return 0
        except Exception as exc:  # last resort; nothing of the batch is counted yet
            rows = rows_given(latency_ms)
            event = {"model": model, "version": version, "host": host, "rows": rows}
            self._contain(exc, "log_batch", event, rows=rows, table=INFERENCES.name)
            return 0
        try:
            accepted, full = self._accept_batch(model, version, host, cols, checked, now_ms)
        except Exception as exc:  # a bug past the checks: what it lost is parked there
            self._contain(exc, "log_batch", None, rows=0, table=INFERENCES.name)
            return 0
        self._flush_if_due(full)
        return accepted

    def _accept_batch(
        self,
        model: str,
        version: str,
        host: str,
        cols: BatchColumns,
        checked: CheckedRows,
        now_ms: int,
    ) -> tuple[int, bool]:
        """Park the bad rows (by their first failing check), aggregate and buffer the rest;
        the rows accepted and whether a flush is due. Reads no value of the caller's any
        more (:func:`check_rows` did) except in the aggregation, which parks what it could
        not read (:meth:`_block_of`); the rows reserved are released whatever happens."""
        n, reason = cols.latency_ms.size, checked.reason
        keep = None
        if reason.any():
            self._park_rows(model, version, cols, reason, checked.checks, now_ms)
            keep = np.flatnonzero(reason == 0)
        for k in checked.bad_names:
            msg = f"feature name must be {NAME_RULE}, got {shown(k)}; column dropped, rows kept"
            self._park("bad_feature_name", msg, {"model": model, "feature": k}, now_ms)
        keep = self._reserve_rows(n, keep)
        taken = n if keep is None else keep.size
        if taken == 0:
            return 0, False
        released = False
        try:
            block, accepted = self._block_of(model, version, host, cols, checked, keep, now_ms)
            with self._lock:
                self._reserved_rows -= taken  # the same rows, now in _block_rows
                released = True
                if self._closed:  # close() ran while this batch was aggregated: its flush is over
                    self._refuse(block.rows_by_table(), CLOSED)
                    return 0, False
                self._blocks.append(block)
                self._block_rows += accepted
                self.stats.accepted += accepted
                full = self._block_rows >= self.max_batch
        except Exception as exc:  # a bug must not crash the model server: say what was lost
            log.exception("modelhealth: could not aggregate a batch of %s", model)
            self._park_group_failure(model, version, host, taken, exc, now_ms)
            return 0, False
        finally:
            if not released:  # a leaked reservation shrank max_buffered for good
                with self._lock:
                    self._reserved_rows -= taken
        return accepted, full

    def _block_of(
        self,
        model: str,
        version: str,
        host: str,
        cols: BatchColumns,
        checked: CheckedRows,
        keep: np.ndarray | None,
        now_ms: int,
    ) -> tuple[EventBatch, int]:
        """The aggregated block of the ``keep`` rows and how many rows it holds.

        Values of the caller's own types (a ``str`` subclass whose ``__hash__`` raises, a
        ``float`` subclass whose ``__float__`` does) pass the checks and fail the
        aggregation: the whole batch was then lost as ``aggregate_error``. Only then are the
        values probed (:func:`unreadable_rows`, off the hot path); their rows are parked as
        ``bad_feature_value`` and the others aggregated again."""
        feats = {k: take(v, keep) for k, v in cols.features.items() if k not in checked.bad_names}
        rows = np.arange(cols.latency_ms.size) if keep is None else keep
        ts_k = take(checked.ts, keep).astype(np.int64)
        ref = self.references.get(model)
        with self._lock:
            known = [*(ref.features if ref is not None else ()), *self._see(model, version, feats)]
        for k in known:  # a feature of the model the batch lacks: a null in every row
            if k not in feats:
                feats[k] = np.full(ts_k.size, None, dtype=object)
        per_row = [ts_k, *(take(a, keep) for a in (checked.lat, checked.sc, checked.rids))]
        per_row.append(take(checked.err, keep))
        try:
            return self._aggregate_rows(model, version, host, feats, per_row), ts_k.size
        except Exception:
            bad = unreadable_rows(feats)
            if bad is None:
                raise
        self._park_unreadable(model, version, feats, rows, bad, now_ms)
        good = np.flatnonzero(~bad)
        feats = {k: v[good] for k, v in feats.items()}
        per_row = [a[good] for a in per_row]
        return self._aggregate_rows(model, version, host, feats, per_row), good.size

    def _aggregate_rows(
        self,
        model: str,
        version: str,
        host: str,
        feats: dict[str, np.ndarray],
        per_row: list[np.ndarray],
    ) -> EventBatch:
        """:meth:`_aggregate` of ``log_batch`` rows: ``per_row`` is ts, latency, score,
        request ids and is_error, one entry per row."""
        ts, lat, sc, rids, err = per_row
        rid_series = pd.Series(rids, dtype=object)
        return self._aggregate(model, version, host, ts, lat, sc, rid_series, err, [(0, feats)])

    def _park_unreadable(
        self,
        model: str,
        version: str,
        feats: Mapping[str, np.ndarray],
        rows: np.ndarray,
        bad: np.ndarray,
        now_ms: int,
    ) -> None:
        """Park the rows of a batch holding a value :func:`unreadable_rows` found (their
        row number in the batch as given); every one counted, the first
        :data:`MAX_PARKED_ROWS` kept whole."""
        where = np.flatnonzero(bad)
        with self._lock:
            self.stats.parked["bad_feature_value"] += int(where.size)
        for i in where[:MAX_PARKED_ROWS]:
            feature = next(k for k, v in feats.items() if _unreadable(v[i]) is not None)
            problem = _unreadable(feats[feature][i])
            msg = f"feature {shown(feature)} value {problem}"
            event = {"model": model, "version": version, "row": int(rows[i]), "feature": feature}
            event["value"] = shown(feats[feature][i])  # its repr may fail too
            self._park("bad_feature_value", msg, event, now_ms, rows=0)

    def _reserve_rows(self, n: int, keep: np.ndarray | None) -> np.ndarray | None:
        """The rows of a ``log_batch`` the buffers take: every good row (``keep``; None for
        all ``n``), or while the buffers are bounded (:meth:`_bounded`) the first ones that
        fit under ``max_buffered`` (the rest counted as dropped). They stay reserved until
        their block is buffered, so
        threads aggregating batches at once cannot overshoot the bound together."""
        good = n if keep is None else keep.size
        with self._lock:
            taken = self._room(good, INFERENCES.name)
            self._reserved_rows += taken
        if taken == good:
            return keep
        return (np.arange(n) if keep is None else keep)[:taken]

    def _park_rows(
        self,
        model: str,
        version: str,
        cols: BatchColumns,
        reason: np.ndarray,
        checks: list[tuple[str, np.ndarray, str, str]],
        now_ms: int,
    ) -> None:
        """Count every bad row under its own reason; keep the first MAX_PARKED_ROWS whole."""
        counts = np.bincount(reason, minlength=len(checks) + 1)
        with self._lock:
            for i, (code, _, _, _) in enumerate(checks, 1):
                if counts[i]:
                    self.stats.parked[code] += int(counts[i])
        for row in np.flatnonzero(reason)[:MAX_PARKED_ROWS]:
            code, _, message, feature = checks[int(reason[row]) - 1]
            event = {
                "model": model,
                "version": version,
                "row": int(row),
                **{name: parked_value(col[row]) for name, col in cols.row_values().items()},
            }
            if feature:
                event["feature"] = feature
                event["value"] = parked_value(cols.features[feature][row])
            self._park(code, message, event, now_ms, rows=0)

    # -- flushing --------------------------------------------------------------------------
    def flush(self) -> EventBatch:
        """Aggregate everything buffered and hand it to the sink in one batch.

        Also writes the batches an earlier flush could not. If the sink raises, this batch is
        kept for the next flush (see the module doc) and the error is re-raised.
        """
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> EventBatch:
        with self._lock:
            events, self._events = self._events, []
            features, self._features = self._features, []
            seen_counts, self._events_seen = self._events_seen, []
            blocks, self._blocks = self._blocks, []
            self._block_rows = 0
            outcomes, self._outcomes = self._outcomes, []
            parked, self._parked = self._parked, []
            unsent, self._unsent = self._unsent, []
            self._last_flush = self.clock.monotonic()
        fresh = self._build(events, features, seen_counts, blocks, outcomes, parked)
        batch = concat([*unsent, fresh])
        if batch.is_empty():
            return batch
        if self._fork_of_sink_owner:  # never through the parent's connection (_forked)
            with self._lock:
                self._refuse(batch.rows_by_table(), FORKED)
            return batch
        try:
            self.sink.write(batch)
        except BaseException as exc:  # KeyboardInterrupt mid-write too: keep, then re-raise
            self._keep_refused([*unsent, fresh], exc)
            raise
        self.stats.flushes += 1
        self.stats.last_flush_error = ""  # recovered: the error no longer describes the sink
        self._backoff_s = 0.0
        self._sink_failing = False
        self._warned.discard(FULL)  # a later outage that fills the buffers warns again
        return batch

    def _keep_refused(self, written: list[EventBatch], exc: BaseException) -> None:
        """Keep what the sink says it did not take. A sink's error may name those rows
        (``unsent``, e.g. Kafka's: rows never queued, or expired in its producer) and the
        rows it can never deliver (``lost``, counted as dropped); without ``unsent`` the
        whole batch is kept unless ``resend`` is False (the sink holds the rows itself).

        An error whose ``unsent``, ``resend`` or ``lost`` cannot be read (a property that
        raises, ``lost="many"``, ``unsent`` holding no batches) keeps the whole batch: that
        raised here, inside the handler, so the batch was neither kept nor counted."""
        try:
            unsent = getattr(exc, "unsent", None)
            if unsent is not None:
                kept = list(unsent)
                if not all(isinstance(b, EventBatch) for b in kept):
                    raise TypeError("unsent holds something other than EventBatch")
            else:
                kept = written if getattr(exc, "resend", True) else []
            lost = lost_by_table(exc)
        except Exception:
            log.warning(
                "modelhealth: unreadable sink error; keeping the whole batch", exc_info=True
            )
            kept, lost = written, {}
        self._keep_unsent(kept, exc, lost=lost)

    def close(self) -> None:
        """Stop the background flusher (if any), flush, then close the sink. If that last
        flush fails, the error is raised and the sink stays open: calling close() again
        retries the kept rows.

        A closed Monitor refuses rows: ``log``, ``log_batch`` and ``log_outcome`` return
        False (0), count them in ``stats.dropped_rows`` (a malformed event in
        ``stats.parked`` too, its record dropped) and log one warning. They never reach the
        sink, which is closed: DuckDB's would still store them, Kafka's would fail them as
        flush errors, so the Monitor behaves alike whatever the sink. Rows are refused from
        the moment close() starts (none slips in after its last flush); a close() that
        failed leaves the Monitor open, taking rows again (the exit hook retries it).
        """
        self._stop_flusher()
        with self._lock:
            self._closed = True
        try:
            self.flush()
            if self._fork_of_sink_owner:
                return  # the sink is the parent's (and so is closing it)
            try:
                self.sink.close()
            except Exception as exc:  # rows the sink hands back stay here for the next close()
                if getattr(exc, "unsent", None) is not None or getattr(exc, "lost", 0):
                    self._keep_refused([], exc)
                raise
        except BaseException:
            with self._lock:
                self._closed = False
            raise

    def _stop_flusher(self, timeout_s: float | None = None) -> None:
        """Stop the background flusher, waiting for a flush it is in; TimeoutError if it is
        still at it after ``timeout_s`` (stuck on the sink; then it is left running)."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"the background flush still waits on the sink after {timeout_s}s")
        self._thread = None

    def _flush_loop(self) -> None:
        """The ``background=True`` flusher: flushes when ``log()`` finds the buffer due (or
        every ``flush_interval``), so no request thread ever waits for the sink, e.g. for
        Kafka's ``max_block_ms`` (30 s) while the broker is gone. Meanwhile the buffers keep
        at most ``max_buffered`` rows and count the rest in ``stats.dropped_rows`` (see
        :meth:`_room`)."""
        while not self._stopping:
            self._wake.wait(self.flush_interval_s or 1.0)
            self._wake.clear()
            if self._stopping:
                return
            if self._pending():
                try:
                    self._auto_flush()
                except BaseException as exc:  # a sink's own BaseException killed the thread,
                    # and every row after it was refused as if the sink failed, for ever
                    self._contain(exc, "the background flush", None, rows=0, table="")

    def _forked(self) -> None:
        """Start over in a child made by ``os.fork()`` (gunicorn's pre-fork workers,
        multiprocessing): empty buffers, counters at 0, fresh locks, a flusher of its own.

        The parent's buffered rows stay the parent's to flush: every child flushed a copy of
        them too, so they were stored once per worker, and its counters counted them. No
        thread of the parent runs here: neither one that held a lock at the fork nor the
        background flusher, so a child buffered ``max_buffered`` rows, then refused every
        row as if the sink failed and wrote nothing until it exited (QA). A closed Monitor
        stays closed; what it knows of feature names and kinds is kept.

        A Monitor whose sink is single-process (:func:`single_process`: DuckDB's) refuses
        every row here instead, counted in ``stats.dropped_rows`` with one warning saying
        what to use (see :data:`_REFUSALS`): the child's writes through its parent's DuckDB
        connection reported success and were lost, or corrupted the file the parent writes
        (QA: "Corrupted DICT_FSST lengths" on the next open). The file cannot be reopened
        here either: the parent holds its write lock. Nor is the sink closed in the child,
        nor ever finalized (:func:`never_finalize`): a child that wrote nothing corrupted
        the file too, when its copy of the connection checkpointed at the child's exit."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self.stats = IngestStats()
        self._events, self._features, self._events_seen, self._blocks = [], [], [], []
        self._block_rows = self._reserved_rows = 0
        self._outcomes, self._parked, self._unsent = [], [], []
        self._last_flush = self.clock.monotonic()
        self._retry_at = self._backoff_s = 0.0
        self._warned = set()
        self._exit_tried = False
        self._sink_failing = False
        self._error_log_at, self._errors_unlogged = 0.0, 0
        if not self._fork_of_sink_owner and single_process(self.sink):
            self._fork_of_sink_owner = True
            never_finalize(self.sink)
        if self._thread is not None:
            self._thread = None
            if not self._stopping and not self._fork_of_sink_owner:
                self._start_flusher()

    def _pending(self) -> bool:
        """Whether anything waits for a flush (a read without the lock: a hint only)."""
        return bool(self._events or self._blocks or self._outcomes or self._parked or self._unsent)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    def _room(self, wanted: int, table: str, *, in_flush: bool = False) -> int:
        """How many of ``wanted`` new rows of ``table`` the buffers take; the others are
        counted as dropped. The caller holds ``_lock``.

        None after :meth:`close` (see there), except records a flush parks itself
        (``in_flush``: it writes them at once, close()'s last flush included).

        Predictions, labels and parked records together wait at most ``max_buffered`` rows
        while the sink fails (see :meth:`_bounded`). Beyond that the newest are refused, as a
        full queue refuses them: what waits already keeps its order and is written first.
        """
        if (self._closed or self._fork_of_sink_owner) and not in_flush and wanted:
            self._refuse({table: wanted}, CLOSED if self._closed else FORKED)
            return 0
        if not self._bounded():
            return wanted
        buffered = self._buffered_rows()
        taken = min(wanted, max(self.max_buffered - buffered, 0))
        if taken < wanted:
            self._refuse({table: wanted - taken}, self._full_because())
        elif self._thread is not None and taken and buffered + taken >= self.max_buffered:
            self._wake.set()  # full before max_batch rows were (max_buffered < max_batch)
        return taken

    def _full_because(self) -> str:
        """Why the buffers are full: the sink failed since the last flush that succeeded
        (FULL), or the background flusher has not written them yet, busy with a slow sink
        or just woken (BUSY). Only the first may say the sink fails: the background flusher
        with ``max_buffered < max_batch`` and a healthy sink warned that it failed."""
        return FULL if self._sink_failing or self._thread is None else BUSY

    def _bounded(self) -> bool:
        """Whether ``max_buffered`` applies now. With ``background=True`` always: request
        threads keep logging while the flusher may be stuck on the sink (Kafka down). Without
        it only while automatic flushes back off after a sink failure (up to
        :data:`RETRY_MAX_S`), the one time rows pile up: otherwise the request thread flushes
        what it logs at once, and a healthy sink takes a backfill batch larger than the
        bound whole; and while another thread's flush runs (the sink may block it for
        ``max_block_ms``: the other request threads no longer wait for it, see
        :meth:`_auto_flush`, so their rows pile up meanwhile)."""
        return (
            self._thread is not None
            or self.clock.monotonic() < self._retry_at
            or self._flush_lock.locked()
        )

    def _refuse(self, rows_by_table: Mapping[str, int], why: str) -> None:
        """Count rows refused for ``why`` (a key of :data:`_REFUSALS`) as dropped, warning
        once: once per episode for full buffers (until a flush succeeds: one line per outage,
        not one per request), once for rows logged after close(). The caller holds
        ``_lock``."""
        self.stats.count_dropped(rows_by_table)
        if why not in self._warned:
            self._warned.add(why)
            log.warning(_REFUSALS[why].format(max_buffered=self.max_buffered, pid=os.getpid()))

    def _buffered_rows(self) -> int:
        """Rows waiting for the flusher (the caller holds ``_lock``); rows a ``log_batch``
        is aggregating count already."""
        return (
            len(self._events)
            + self._block_rows
            + self._reserved_rows
            + len(self._outcomes)
            + len(self._parked)
        )

    def _flush_if_due(self, full: bool) -> None:
        """After ``log``, ``log_batch`` or ``log_outcome`` buffered rows: flush (or wake the
        flusher) when a buffer holds ``max_batch`` rows or ``flush_interval`` has passed.
        All three must: ``log_batch`` alone once buffered 50,000 rows without a flush."""
        try:
            if full or self.clock.monotonic() - self._last_flush >= self.flush_interval_s:
                if self._thread is not None:
                    self._wake.set()
                else:
                    self._auto_flush()
        except Exception as exc:  # the rows are buffered: only the error is counted
            self._contain(exc, "the automatic flush", None, rows=0, table="")

    def _auto_flush(self) -> None:
        """The flush ``log()`` triggers on a request thread: a sink failure is counted and
        logged, never raised into the model server (the rows are kept for the next flush).

        After a failure the next automatic flush waits :data:`RETRY_MIN_S`, doubling up to
        :data:`RETRY_MAX_S`: a sink that is down makes each write wait its timeout (Kafka's
        ``max_block_ms``), and retrying on every request stalled every request (QA: 30 s per
        ``log()`` call while Kafka was down). Events buffer meanwhile.

        Only one request thread waits: while another flush runs (it holds ``_flush_lock``,
        maybe for Kafka's ``max_block_ms``), this returns at once instead of waiting for
        that lock. Every request thread whose ``log()`` found the flush due queued on it, for
        the whole wait, and then flushed again itself (with ``background=False``
        and Kafka down, each of them stalled up to twice ``max_block_ms``).
        """
        now = self.clock.monotonic()
        if now < self._retry_at:
            return
        if not self._flush_lock.acquire(blocking=False):
            return  # another thread flushes, perhaps waiting on the sink: never wait for it
        try:
            if self.clock.monotonic() < self._retry_at:  # its flush failed meanwhile
                return
            self._flush()
        except Exception:
            self._backoff_s = min(max(2 * self._backoff_s, RETRY_MIN_S), RETRY_MAX_S)
            self._retry_at = self.clock.monotonic() + self._backoff_s
            log.warning(
                "modelhealth: flush failed (next automatic try in %.0fs)",
                self._backoff_s,
                exc_info=True,
            )
        finally:
            self._flush_lock.release()

    def _contain(
        self,
        exc: BaseException,
        call: str,
        event: Mapping[str, object] | None,
        *,
        rows: int,
        table: str,
    ) -> None:
        """The last resort of ``log``, ``log_batch``, ``log_outcome`` and the flushes: an
        exception no check expected is counted (``stats.unexpected_errors``), its ``rows``
        (the event that raised, not yet counted anywhere) parked as :data:`UNEXPECTED` with
        ``event`` as given, and logged at most once per :data:`ERROR_LOG_EVERY_S`. If not
        even parking works (the clock raising, say) the rows are counted as dropped in
        ``table``. Never raises."""
        text = describe(exc)
        try:
            with self._lock:
                self.stats.unexpected_errors += 1
                self.stats.last_unexpected_error = f"{call}: {text}"[:500]
            if rows:
                try:
                    now_ms = to_epoch_ms(self.clock.now())
                    reason = f"{call}() raised {text}"
                    self._park(UNEXPECTED, reason, event or {}, now_ms, rows=rows)
                except Exception:
                    with self._lock:
                        self.stats.count_dropped({table: rows})
            self._log_contained(call, text, rows, exc)
        except Exception:
            pass  # counting failed too; the caller must still return normally

    def _log_contained(self, call: str, text: str, rows: int, exc: BaseException) -> None:
        """One log line (with the traceback) per :data:`ERROR_LOG_EVERY_S` about
        contained errors, saying how many were not logged since: a bad object sent with
        every request logged a traceback per request."""
        now = time.monotonic()
        with self._lock:
            if now < self._error_log_at:
                self._errors_unlogged += 1
                return
            self._error_log_at = now + ERROR_LOG_EVERY_S
            skipped, self._errors_unlogged = self._errors_unlogged, 0
        what = f"{rows} rows parked as {UNEXPECTED}" if rows else "nothing lost"
        log.error(
            "modelhealth: %s raised %s (%s; the call returned normally). %d more such errors"
            " since the last line; all are counted in stats.unexpected_errors, at most one"
            " line per %.0f s",
            call,
            text,
            what,
            skipped,
            ERROR_LOG_EVERY_S,
            exc_info=exc,
        )

    def _build(
        self,
        events: list[tuple[object, ...]],
        features: list[Mapping[str, object]],
        seen_counts: list[int],
        blocks: list[EventBatch],
        outcomes: list[dict[str, object]],
        parked: list[ParkedEvent],
    ) -> EventBatch:
        """One batch from the buffers. Anonymous events (no request id) keep "" so no later
        outcome can join them (a made-up id would collide across processes). ``seen_counts``
        says, per event, how many features its version had been seen with when it was
        logged (see :func:`feature_columns`). ``events`` and ``features`` are the
        ValidEvents as :meth:`log` buffers them: every field but the features, and those."""
        blocks = list(blocks)
        # per (model, version, host): its rows (plain tuples), their features, seen counts;
        # read into columns a chunk at a time (see modelhealth.ingestion.batching)
        for (model, version, host), (rows, feats_of, counts) in group_events(
            events, features, seen_counts
        ).items():
            with self._lock:  # a snapshot: log() adds to it meanwhile
                seen = dict(self._seen.get((model, version), {}))
            ref = self.references.get(model)
            n = len(rows)
            try:
                per_row = row_columns(rows)
                blocks.append(
                    self._aggregate(
                        model,  # type: ignore[arg-type]
                        version,  # type: ignore[arg-type]
                        host,  # type: ignore[arg-type]
                        per_row["ts"],
                        per_row["latency_ms"],
                        per_row["score"],
                        pd.Series(per_row["request_id"], dtype=object, copy=False),
                        per_row["is_error"],
                        feature_columns(
                            feats_of, counts, seen, ref.features if ref is not None else ()
                        ),
                    )
                )
            except Exception as exc:  # a bug in one group must not lose the other groups
                log.exception("modelhealth: could not aggregate events of %s", model)
                now_ms = to_epoch_ms(self.clock.now())
                self._park_group_failure(model, version, host, n, exc, now_ms, in_flush=True)  # type: ignore[arg-type]
        with self._lock:  # records parked just above
            parked = [*parked, *self._parked]
            self._parked = []
        batch = concat(blocks)
        if outcomes:
            batch.outcomes = pd.DataFrame(outcomes, columns=OUTCOMES.column_names)
        batch.parked = parked
        return batch

    def _keep_unsent(
        self, batches: list[EventBatch], exc: BaseException, lost: Mapping[str, int] | None = None
    ) -> None:
        """Keep refused batches for the next flush within ``max_unsent_rows`` (see
        :func:`bound_unsent`); the rows dropped beyond it and the ``lost`` ones the sink gave
        up on (per table) are counted as dropped."""
        text = describe(exc)
        with self._lock:
            self.stats.flush_errors += 1
            self.stats.last_flush_error = text
            self._sink_failing = True
            self._unsent, dropped = bound_unsent([*batches, *self._unsent], self.max_unsent_rows)
            kept = sum(b.user_rows() for b in self._unsent)
            self.stats.count_dropped(dropped)
            self.stats.count_dropped(lost or {})
        if lost:
            log.error("modelhealth: the sink could not deliver rows (%s); dropped %s", text, lost)
        if dropped:
            log.error(
                "modelhealth: sink still failing (%s); dropped %s, %d rows kept for retry",
                text,
                dict(dropped),
                kept,
            )

    def _park_group_failure(
        self,
        model: str,
        version: str,
        host: str,
        rows: int,
        exc: Exception,
        now_ms: int,
        *,
        in_flush: bool = False,
    ) -> None:
        self._park(
            "aggregate_error",
            f"{type(exc).__name__}: {exc}; {rows} rows lost",
            {"model": model, "version": version, "host": host, "rows": rows},
            now_ms,
            rows=rows,
            in_flush=in_flush,
        )

    def _aggregate(
        self,
        model: str,
        version: str,
        host: str,
        ts: np.ndarray,
        lat: np.ndarray,
        sc: np.ndarray,
        rids: pd.Series,
        err: np.ndarray,
        parts: Sequence[tuple[int, Mapping[str, np.ndarray]]],
    ) -> EventBatch:
        """The batch of these rows: inferences, and feature aggregates of ``parts``, each a
        first row and the feature columns counted from it on (see :func:`feature_columns`)."""
        inferences = pd.DataFrame(
            {
                "ts": ts,
                "model": model,
                "version": version,
                "host": host,
                "request_id": rids.to_numpy(dtype=object),
                "score": sc,
                "latency_ms": lat,
                "is_error": err.astype(np.int32),
            }
        )
        ref, kinds = self.references.get(model), self._kinds.get((model, version))
        stats: list[dict[str, object]] = []
        bins: list[dict[str, object]] = []
        for start, cols in parts:
            s, b = aggregate_block(model, version, ts[start:], cols, ref, self.bucket_ms, kinds)
            stats += s
            bins += b
        self._keep_kinds(model, version, stats)
        return EventBatch(
            inferences=inferences,
            feature_stats=pd.DataFrame(stats, columns=FEATURE_STATS.column_names),
            feature_bins=pd.DataFrame(bins, columns=FEATURE_BINS.column_names),
        )

    def _see(self, model: str, version: str, names: Iterable[str]) -> dict[str, int]:
        """The features seen for ``model`` ``version`` (name -> order first seen in),
        ``names`` added within :data:`MAX_SEEN_FEATURES`. The caller holds ``_lock``."""
        seen = self._seen.setdefault((model, version), {})
        for name in names:
            if name in seen:
                continue
            if len(seen) >= MAX_SEEN_FEATURES:
                if (model, version) not in self._capped:
                    self._capped.add((model, version))
                    log.warning(
                        "modelhealth: model %s version %s logged more than %d feature names; "
                        "a further one (%r) is counted only in the flush that holds it",
                        model,
                        version,
                        MAX_SEEN_FEATURES,
                        name,
                    )
                break
            seen[name] = len(seen)
        return seen

    def _keep_kinds(self, model: str, version: str, stats: list[dict[str, object]]) -> None:
        """Remember the kind each seen feature of ``model`` ``version`` was stored as: a
        later flush in which it is only missing (nulls say no kind) stores the same kind."""
        with self._lock:
            seen = self._seen.get((model, version), {})
            kinds = self._kinds.setdefault((model, version), {})
            for row in stats:
                name = row["feature"]
                if name in seen:
                    kinds[name] = row["kind"]  # type: ignore[index]

    def _park(
        self,
        code: str,
        message: str,
        event: Mapping[str, object],
        now_ms: int,
        rows: int = 1,
        *,
        in_flush: bool = False,
    ) -> None:
        """Keep a record of what was rejected and why; ``rows`` is how many events it stands
        for in ``stats.parked`` (0 when the caller counted them already); ``in_flush`` for a
        record a flush parks (see :meth:`_room`)."""
        record = ParkedEvent(reason=f"{code}: {message}", event=event_json(event), ts=now_ms)
        with self._lock:
            if rows:
                self.stats.parked[code] += rows
            # if refused, the event stays counted as parked, its record dropped
            if self._room(1, PARKED, in_flush=in_flush):
                self._parked.append(record)


_concat = concat
"""The old name of :func:`~modelhealth.ingestion.batch.concat`, which callers import from here."""
