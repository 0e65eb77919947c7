"""The client model servers call once per inference (or once per batch of inferences).

    monitor = Monitor(sink, references={"fraud": ref})
    monitor.log(model="fraud", version="v3", features={"amount": 12.5, "country": "DE"},
                score=0.91, latency_ms=14.2, request_id="r-1")

Events are buffered and aggregated on flush: feature values become per-bucket statistics and
histogram rows (cheap to store, comparable across windows); latency and score stay per request
so the store computes exact percentiles. A malformed event is parked with its reason and
counted; it never raises and never drops the rest of the batch.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from operator import itemgetter

import numpy as np
import pandas as pd

from modelhealth.clock import Clock, SystemClock, to_epoch_ms
from modelhealth.ingestion.aggregate import aggregate_block
from modelhealth.ingestion.batch import EventBatch, ParkedEvent, Sink
from modelhealth.ingestion.reference import ModelReference
from modelhealth.ingestion.schema import FEATURE_BINS, FEATURE_STATS, OUTCOMES
from modelhealth.ingestion.validate import EventRejected, ValidEvent, validate_event
from modelhealth.names import is_valid_name


@dataclass
class IngestStats:
    """Counters a model server can export: accepted, parked (by reason), flushes."""

    accepted: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    flushes: int = 0
    outcomes: int = 0

    @property
    def parked_total(self) -> int:
        return sum(self.parked.values())


class Monitor:
    """Buffers inference events and flushes aggregated batches to a sink.

    Thread-safe: many request threads may call :meth:`log` concurrently.
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
        self._events: list[ValidEvent] = []
        self._blocks: list[EventBatch] = []
        self._outcomes: list[dict[str, object]] = []
        self._parked: list[ParkedEvent] = []
        self._ids = count()
        self._last_flush = self.clock.monotonic()

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
        """Record one inference; returns False (and parks it) if the event is malformed."""
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
            self._park(
                exc.code,
                str(exc),
                {
                    "model": model,
                    "version": version,
                    "features": features,
                    "score": score,
                    "latency_ms": latency_ms,
                    "request_id": request_id,
                    "host": host,
                    "ts": ts,
                },
                now_ms,
            )
            return False
        with self._lock:
            self._events.append(event)
            self.stats.accepted += 1
            full = len(self._events) >= self.max_batch
        if full or self.clock.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()
        return True

    def log_outcome(self, *, model: str, request_id: str, label: float, ts: object = None) -> bool:
        """Record the real-world outcome (label) of an earlier prediction, joined later."""
        now_ms = to_epoch_ms(self.clock.now())
        try:
            if not is_valid_name(model):
                raise EventRejected("bad_model", f"invalid model name {model!r}")
            if not isinstance(request_id, str) or not request_id:
                raise EventRejected("bad_request_id", "outcome needs a non-empty request_id")
            if isinstance(label, bool) or not isinstance(label, (int, float)):
                raise EventRejected("bad_label", f"label must be a number, got {label!r}")
            row = {
                "ts": now_ms if ts is None else int(float(ts) * (1000 if float(ts) < 1e11 else 1)),  # type: ignore[arg-type]
                "model": model,
                "request_id": request_id,
                "label": float(label),
            }
        except (EventRejected, TypeError, ValueError) as exc:
            code = exc.code if isinstance(exc, EventRejected) else "bad_ts"
            self._park(
                code,
                str(exc),
                {"model": model, "request_id": request_id, "label": label, "ts": ts},
                now_ms,
            )
            return False
        with self._lock:
            self._outcomes.append(row)
            self.stats.outcomes += 1
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
        request_ids: Sequence[str] | None = None,
        host: str | None = None,
        is_error: Sequence[bool] | np.ndarray | None = None,
    ) -> int:
        """Record many inferences of one model version at once (vectorised, ~1M events/s).

        Rows with a non-finite or negative latency or a non-finite score are parked one by
        one; the others go through. Returns the number accepted.
        """
        now_ms = to_epoch_ms(self.clock.now())
        host = host or self.default_host
        for what, name in (("model", model), ("version", version), ("host", host)):
            if not is_valid_name(name):
                self._park(f"bad_{what}", f"invalid {what} name {name!r}", {what: name}, now_ms)
                return 0
        lat = np.asarray(latency_ms, dtype=np.float64)
        sc = np.asarray(score, dtype=np.float64)
        n = lat.size
        ts = np.full(n, now_ms, dtype=np.int64) if ts_ms is None else np.asarray(ts_ms, np.int64)
        if sc.size != n or ts.size != n or any(len(v) != n for v in features.values()):
            self._park(
                "bad_batch",
                "columns of a batch must all have the same length",
                {"model": model, "rows": n},
                now_ms,
            )
            return 0
        bad_names = [k for k in features if not is_valid_name(k)]
        good = np.isfinite(lat) & (lat >= 0) & np.isfinite(sc)
        for i in np.flatnonzero(~good)[:1000]:
            self._park(
                "bad_latency_ms" if not (np.isfinite(lat[i]) and lat[i] >= 0) else "bad_score",
                "latency_ms must be finite and >= 0 and score finite",
                {
                    "model": model,
                    "version": version,
                    "latency_ms": float(lat[i]),
                    "score": float(sc[i]),
                },
                now_ms,
                count_only=False,
            )
        if (~good).sum() > 1000:
            self.stats.parked["bad_latency_ms"] += int((~good).sum()) - 1000
        for k in bad_names:
            self._park("bad_feature_name", f"invalid feature name {k!r}", {"feature": k}, now_ms)
        keep = np.flatnonzero(good) if not good.all() else None
        cols = {k: _take(np.asarray(v), keep) for k, v in features.items() if k not in bad_names}
        ts_k, lat_k, sc_k = _take(ts, keep), _take(lat, keep), _take(sc, keep)
        if request_ids is None:  # no ids: outcomes cannot be joined, so store none
            rids = pd.Series(np.full(ts_k.size, "", dtype=object))
        else:
            rids = pd.Series(_take(np.asarray(request_ids, dtype=object), keep))
        err = (
            np.zeros(ts_k.size, np.int32)
            if is_error is None
            else _take(np.asarray(is_error).astype(np.int32), keep)
        )
        block = self._aggregate(model, version, host, ts_k, lat_k, sc_k, rids, err, cols)
        with self._lock:
            self._blocks.append(block)
            self.stats.accepted += int(ts_k.size)
        return int(ts_k.size)

    # -- flushing --------------------------------------------------------------------------
    def flush(self) -> EventBatch:
        """Aggregate everything buffered and hand it to the sink in one batch."""
        with self._lock:
            events, self._events = self._events, []
            blocks, self._blocks = self._blocks, []
            outcomes, self._outcomes = self._outcomes, []
            parked, self._parked = self._parked, []
            self._last_flush = self.clock.monotonic()
        groups: dict[tuple[str, str, str], list[ValidEvent]] = defaultdict(list)
        for e in events:
            groups[(e.model, e.version, e.host)].append(e)
        for (model, version, host), evs in groups.items():
            cols = _feature_columns([e.features for e in evs])
            blocks.append(
                self._aggregate(
                    model,
                    version,
                    host,
                    np.fromiter((e.ts for e in evs), np.int64, len(evs)),
                    np.fromiter((e.latency_ms for e in evs), np.float64, len(evs)),
                    np.fromiter((e.score for e in evs), np.float64, len(evs)),
                    pd.Series([e.request_id or f"r{next(self._ids)}" for e in evs], dtype=object),
                    np.fromiter((e.is_error for e in evs), np.int32, len(evs)),
                    cols,
                )
            )
        batch = _concat(blocks)
        if outcomes:
            batch.outcomes = pd.DataFrame(outcomes, columns=OUTCOMES.column_names)
        batch.parked = parked
        if not batch.is_empty():
            self.sink.write(batch)
            self.stats.flushes += 1
        return batch

    def close(self) -> None:
        self.flush()
        self.sink.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
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
        cols: Mapping[str, np.ndarray],
    ) -> EventBatch:
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
        stats, bins = aggregate_block(
            model, version, ts, cols, self.references.get(model), self.bucket_ms
        )
        return EventBatch(
            inferences=inferences,
            feature_stats=pd.DataFrame(stats, columns=FEATURE_STATS.column_names),
            feature_bins=pd.DataFrame(bins, columns=FEATURE_BINS.column_names),
        )

    def _park(
        self,
        code: str,
        message: str,
        event: Mapping[str, object],
        now_ms: int,
        count_only: bool = False,
    ) -> None:
        with self._lock:
            self.stats.parked[code] += 1
            if not count_only:
                self._parked.append(
                    ParkedEvent(
                        reason=f"{code}: {message}",
                        event=json.dumps(event, default=repr),
                        ts=now_ms,
                    )
                )


def _feature_columns(rows: list[Mapping[str, object]]) -> dict[str, np.ndarray]:
    """Row dicts -> one array per feature; a missing key is a null for that event."""
    first = rows[0].keys()
    if all(r.keys() == first for r in rows):  # the usual case: one schema per model version
        names = list(first)
        if not names:
            return {}
        get = itemgetter(*names)
        values = [get(r) for r in rows] if len(names) > 1 else [(get(r),) for r in rows]
        grid = np.array(values, dtype=object)
        return {k: _column(grid[:, j]) for j, k in enumerate(names)}
    names = sorted({k for r in rows for k in r})
    return {k: _column(np.array([r.get(k) for r in rows], dtype=object)) for k in names}


def _column(values: np.ndarray) -> np.ndarray:
    """A float array when every value is a number (fast path), else the object array."""
    if not np.equal(values, None).any():
        try:
            return values.astype(np.float64)
        except (TypeError, ValueError):
            pass
    return values


def _take(arr: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    return arr if keep is None else arr[keep]


def _concat(blocks: list[EventBatch]) -> EventBatch:
    if not blocks:
        return EventBatch()
    if len(blocks) == 1:
        return blocks[0]
    out = EventBatch()
    for attr in ("inferences", "feature_stats", "feature_bins"):
        frames = [getattr(b, attr) for b in blocks if len(getattr(b, attr))]
        if frames:
            setattr(out, attr, pd.concat(frames, ignore_index=True))
    return out
