"""The dashboard's query layer: one store handle that follows snapshots, and cached queries.

Why a handle: DuckDB allows one writing process per file, so the demo publishes a read-only
*snapshot* by atomic rename. The dashboard opens that file ``read_only`` and, at every page
run, compares the file's (size, mtime, inode) with what it opened; a new snapshot means a new
connection and a new cache *token*, so cached answers of the old snapshot are never served.

Why cached functions take a token: ``st.cache_data`` keys on the hashed arguments. The store
itself is passed as an unhashed ``_store`` argument; the token (snapshot identity, or a time
slot for live backends such as Pinot) plus the query and its scope are the key. Every query is
an aggregate the store computes (percentiles, per-bucket sums, per-bin histograms); the
dashboard never reads raw rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from modelhealth.clock import Clock, SystemClock
from modelhealth.dashboard.cells import with_sizes
from modelhealth.drift.compare import (
    Baseline,
    drift_series_from_histograms,
    drift_table,
    drift_table_from_histograms,
    profile_histograms,
)
from modelhealth.errors import StoreUnavailable
from modelhealth.files import Stamp, file_stamp
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import QueryBackend, Scope

CACHE_TTL_S = 300
"""Upper bound on how stale a cached answer of a *live* backend may be (snapshots re-key)."""

T = TypeVar("T")

LIVE_SLOT_S = 30
"""Live backends (no file to watch) get a new cache token every this many seconds."""


CLOCK: Clock = SystemClock()
"""The clock live slots are read from (a test sets a FakeClock)."""


def live_slot() -> int:
    """The current :data:`LIVE_SLOT_S` slot of :data:`CLOCK`: a live backend's cache token."""
    return int(CLOCK.now().timestamp() // LIVE_SLOT_S)


class StoreUnavailableError(StoreUnavailable, RuntimeError):
    """The configured store cannot be opened (file missing, locked by a writer, …).

    A :class:`~modelhealth.errors.StoreUnavailable`, the error the stores themselves raise
    when a query fails (Pinot broker down), so the app catches both as one: the pages showed
    a raw traceback for the store's own error (QA: an unreachable Pinot broker)."""


class StoreHandle:
    """A QueryBackend that reopens itself when its DuckDB file is replaced.

    Queries run through :meth:`run`, under the handle's lock: DuckDB shares one database
    instance per path within a process, so the old snapshot's connection must be closed
    before the new one opens, and no query may be running on it then. (DuckDBStore already
    serialises its queries, so the lock costs no concurrency.)

    >>> handle = StoreHandle.duckdb("snapshot.duckdb"); token = handle.token()
    """

    def __init__(
        self,
        opener: Callable[[], QueryBackend],
        path: Path | None = None,
        slot: Callable[[], int] | None = None,
    ) -> None:
        self._opener = opener
        self.path = path
        self._slot = slot
        self._lock = threading.RLock()
        self._store: QueryBackend | None = None
        self._identity: Stamp | None = None
        self.reopens = 0

    @classmethod
    def duckdb(cls, path: str | Path) -> StoreHandle:
        """Follow a DuckDB file, always opened read-only (the writer may be another process)."""
        from modelhealth.store.duckdb import DuckDBStore

        p = Path(path)
        return cls(lambda: DuckDBStore(p, read_only=True), path=p)

    @classmethod
    def live(cls, store: QueryBackend) -> StoreHandle:
        """Wrap a live backend (Pinot): its cached answers age out every :data:`LIVE_SLOT_S`.

        Without a slot the token never changed, so a Pinot dashboard served answers up to
        :data:`CACHE_TTL_S` (5 min) old whatever its refresh was set to."""
        return cls.of(store, slot=live_slot)

    @classmethod
    def of(cls, store: QueryBackend, slot: Callable[[], int] | None = None) -> StoreHandle:
        """Wrap an open backend (Pinot, or an in-process DuckDB); ``slot`` ages its cache."""
        handle = cls(lambda: store, slot=slot)
        handle._store = store
        return handle

    def _stat(self) -> Stamp:
        """The store file's stamp: a new snapshot renamed over it (a new inode) reopens it."""
        assert self.path is not None
        try:
            return file_stamp(self.path)
        except FileNotFoundError as exc:
            raise StoreUnavailableError(
                f"store file {self.path} does not exist yet; start the demo "
                "(`modelhealth demo`) or pass --db with an existing DuckDB file"
            ) from exc

    def token(self) -> str:
        """Identity of what the store holds now, reopening on a new snapshot (cache key)."""
        with self._lock:
            if self.path is None:
                slot = self._slot() if self._slot is not None else 0
                return f"live:{id(self._store)}:{slot}"
            identity = self._stat()
            if self._store is None or identity != self._identity:
                if self._store is not None:
                    self._store.close()
                    self._store = None
                try:
                    self._store = self._opener()
                except Exception as exc:  # duckdb.IOException when a writer holds the file
                    raise StoreUnavailableError(f"cannot open store {self.path}: {exc}") from exc
                self._identity = identity
                self.reopens += 1
            return "file:{}:{}:{}:{}".format(self.path, *self._identity)

    def run(self, fn: Callable[[QueryBackend], T]) -> T:
        """Run ``fn(store)`` on the current store, never concurrently with a reopen."""
        with self._lock:
            if self._store is None:
                self.token()
            assert self._store is not None
            return fn(self._store)

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self.path is not None:
                self._store.close()
            self._store = None


# -- cached store queries --------------------------------------------------------------------

FLEET_METHODS = ("fleet_latency", "fleet_feature_histograms")
"""The stores' one-query-for-many-models methods the Fleet page uses when a store has them
(DuckDB and Pinot do; ``modelhealth.rules.frames`` uses the same ones). Without them (a
store of one's own) it asks model by model, each answer cached on its own."""


def _scope(key: tuple[Any, ...]) -> Scope:
    return Scope(*key)


def _run(store: QueryBackend, kind: str, scope: Scope | None, kwargs: dict[str, Any]) -> Any:
    if kind == "models":
        return store.models()
    if kind == "versions":
        return store.versions(kwargs["model"])
    if kind == "hosts":
        fn = getattr(store, "hosts", None)
        return list(fn(kwargs["model"])) if fn is not None else []
    if kind == "time_range":
        return store.time_range(kwargs.get("model"))
    if kind == "last_seen":
        return store.last_seen()
    if kind in FLEET_METHODS:
        kw = dict(kwargs)
        models, start_ms, end_ms = list(kw.pop("models")), kw.pop("start_ms"), kw.pop("end_ms")
        return getattr(store, kind)(models, start_ms, end_ms, **kw)
    assert scope is not None
    return getattr(store, kind)(scope, **kwargs)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=2048, show_spinner=False)
def _cached_query(
    token: str, kind: str, scope_key: tuple[Any, ...] | None, kw: tuple[Any, ...], _h: StoreHandle
) -> Any:
    scope = _scope(scope_key) if scope_key is not None else None
    return _h.run(lambda store: _run(store, kind, scope, dict(kw)))


@st.cache_data(ttl=CACHE_TTL_S, max_entries=512, show_spinner=False)
def _cached_drift_table(
    token: str,
    ref_key: str,
    scope_key: tuple[Any, ...],
    metrics: tuple[str, ...],
    _h: StoreHandle,
    _ref: ModelReference,
) -> pd.DataFrame:
    base = Baseline.profile(_ref)
    return _h.run(lambda store: drift_table(store, _scope(scope_key), base, metrics=metrics))


@st.cache_data(ttl=CACHE_TTL_S, max_entries=512, show_spinner=False)
def _cached_profile_drift(
    token: str,
    ref_key: str,
    scope_key: tuple[Any, ...],
    metric: str,
    step_ms: int,
    _h: StoreHandle,
    _ref: ModelReference,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whole-window drift table and per-bucket series from ONE bucketed histogram scan.

    The histograms are the page's most expensive read (a row per feature, bin and minute);
    the table is the buckets summed, so scanning once instead of twice halves a cold render.
    """
    scope = _scope(scope_key)
    hist = _h.run(lambda store: store.feature_histograms(scope, step_ms=step_ms))
    base = profile_histograms(_ref)
    table = drift_table_from_histograms(hist, base, _ref, (metric,))
    series = drift_series_from_histograms(hist, base, _ref, metric)
    return table, series


@st.cache_data(ttl=CACHE_TTL_S, max_entries=512, show_spinner=False)
def _cached_drift_series(
    token: str,
    baseline_key: tuple[Any, ...],
    scope_key: tuple[Any, ...],
    metric: str,
    step_ms: int,
    features: tuple[str, ...] | None,
    _h: StoreHandle,
    _baseline: Baseline,
) -> pd.DataFrame:
    """``drift_series`` with the values each cell was computed from (``n baseline_n``):
    the same two store queries, whose histograms also give the sizes (``cells.py``)."""
    feats = list(features) if features is not None else None
    scope = _scope(scope_key)
    off = _baseline.offset if _baseline.kind == "shifted" else None
    offset = int(off.total_seconds() * 1000) if off is not None else None
    shifted = offset is not None
    other = _baseline.scope_for(scope)

    def run(store: QueryBackend) -> pd.DataFrame:
        cur = store.feature_histograms(scope, feats, step_ms=step_ms)
        if other is None:
            assert _baseline.reference is not None  # a profile baseline holds its reference
            base = profile_histograms(_baseline.reference, feats)
        else:
            base = store.feature_histograms(other, feats, step_ms=step_ms if shifted else None)
        series = drift_series_from_histograms(
            cur, base, _baseline.reference, metric, feats, baseline_offset_ms=offset
        )
        return with_sizes(series, cur, base, offset)

    return _h.run(run)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=512, show_spinner=False)
def _cached_version_drift(
    token: str, scope_key: tuple[Any, ...], serving: str, metric: str, _h: StoreHandle
) -> pd.DataFrame:
    base = Baseline.other_version(serving)
    return _h.run(lambda store: drift_table(store, _scope(scope_key), base, (metric,)))


class Queries:
    """Cached aggregate queries against one consistent store generation (one page run).

    >>> q = Queries(handle); q.latency(Scope("fraud", lo, hi), step_ms=60_000)
    """

    def __init__(self, handle: StoreHandle) -> None:
        self.handle = handle
        self.token = handle.token()

    def _q(self, kind: str, scope: Scope | None = None, **kwargs: Any) -> Any:
        key = astuple(scope) if scope is not None else None
        kw = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
        return _cached_query(self.token, kind, key, kw, self.handle)

    def models(self) -> list[str]:
        return list(self._q("models"))

    def versions(self, model: str) -> list[str]:
        return list(self._q("versions", model=model))

    def hosts(self, model: str) -> list[str]:
        """Hosts of a model when the backend can list them (else empty: free-text filter)."""
        return list(self._q("hosts", model=model))

    def time_range(self, model: str | None = None) -> tuple[int, int] | None:
        return self._q("time_range", model=model)  # type: ignore[no-any-return]

    def last_seen(self) -> pd.DataFrame:
        return self._q("last_seen")  # type: ignore[no-any-return]

    def latency(
        self, scope: Scope, step_ms: int | None = None, by_version: bool = False
    ) -> pd.DataFrame:
        return self._q("latency", scope, step_ms=step_ms, by_version=by_version)  # type: ignore[no-any-return]

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._q("score", scope, step_ms=step_ms)  # type: ignore[no-any-return]

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        """Predictions joined to their labels (``ts`` bucketed by ``step_ms``): one query."""
        return self._q("outcomes", scope, step_ms=step_ms)  # type: ignore[no-any-return]

    def score_histogram(self, scope: Scope, edges: Sequence[float]) -> pd.DataFrame:
        return self._q("score_histogram", scope, edges=tuple(edges))  # type: ignore[no-any-return]

    def feature_summary(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        feats = tuple(features) if features is not None else None
        return self._q(  # type: ignore[no-any-return]
            "feature_summary", scope, features=feats, step_ms=step_ms, by_version=by_version
        )

    def feature_histograms(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        feats = tuple(features) if features is not None else None
        return self._q(  # type: ignore[no-any-return]
            "feature_histograms", scope, features=feats, step_ms=step_ms, by_version=by_version
        )

    def fleet(
        self, method: str, models: Sequence[str], start_ms: int, end_ms: int, **kwargs: Any
    ) -> pd.DataFrame:
        """A store's fleet query (:data:`FLEET_METHODS`) over ``models``: one cached query.

        >>> q.fleet("fleet_latency", ["fraud", "churn"], lo, hi, step_ms=60_000)"""
        if method not in FLEET_METHODS:
            raise ValueError(f"{method!r} is not a fleet query; expected one of {FLEET_METHODS}")
        return self._q(  # type: ignore[no-any-return]
            method, models=tuple(models), start_ms=int(start_ms), end_ms=int(end_ms), **kwargs
        )

    def has(self, method: str) -> bool:
        """Whether the store answers ``method`` itself (DuckDB has the fleet queries)."""
        return self.handle.run(lambda store: callable(getattr(store, method, None)))

    def drift_table(
        self, scope: Scope, ref: ModelReference, ref_key: str, metrics: Sequence[str]
    ) -> pd.DataFrame:
        """Drift of every feature over ``scope`` vs the reference profile (one row each)."""
        return _cached_drift_table(
            self.token, ref_key, astuple(scope), tuple(metrics), self.handle, ref
        )

    def profile_drift(
        self, scope: Scope, ref: ModelReference, ref_key: str, metric: str, step_ms: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(drift table, drift series every ``step_ms``) vs the profile; one store query."""
        return _cached_profile_drift(  # type: ignore[no-any-return]
            self.token, ref_key, astuple(scope), metric, int(step_ms), self.handle, ref
        )

    def drift_series(
        self,
        scope: Scope,
        baseline: Baseline,
        baseline_key: tuple[Any, ...],
        metric: str,
        step_ms: int,
        features: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Per bucket and feature drift with each cell's sizes (``ts feature value drifted
        n baseline_n``) for the heatmap; two store queries."""
        feats = tuple(features) if features is not None else None
        return _cached_drift_series(
            self.token,
            baseline_key,
            astuple(scope),
            metric,
            int(step_ms),
            feats,
            self.handle,
            baseline,
        )

    def version_drift(self, scope: Scope, serving: str, metric: str) -> pd.DataFrame:
        """Drift of ``scope.version`` (the candidate) against ``serving`` over the window."""
        return _cached_version_drift(self.token, astuple(scope), serving, metric, self.handle)


def clear_caches() -> None:
    """Drop every cached answer (benchmarks measure cold renders with this)."""
    for fn in (
        _cached_query,
        _cached_drift_table,
        _cached_profile_drift,
        _cached_drift_series,
        _cached_version_drift,
    ):
        fn.clear()
    from modelhealth.dashboard.fleetdata import clear_fleet_caches  # it imports this module

    clear_fleet_caches()
