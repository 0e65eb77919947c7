"""Embedded DuckDB backend: the default store, so everything runs on a laptop.

All SQL of this backend lives in this module. Only fixed fragments are concatenated; every
model/version/feature name and time bound is a bound parameter.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from modelhealth.errors import ModelHealthError, StoreUnavailable
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.forking import never_finalize
from modelhealth.ingestion.schema import TABLES, Table
from modelhealth.names import check_name
from modelhealth.store.backend import (
    LABEL_SKEW_MS,
    LATENCY_QUANTILES,
    Scope,
    check_edges,
    check_feature_scope,
    check_features,
    check_model_filter,
    check_version_filter,
    finish_summary,
)

log = logging.getLogger(__name__)

_SQL_TYPES = {"LONG": "BIGINT", "INT": "INTEGER", "DOUBLE": "DOUBLE", "STRING": "VARCHAR"}


def _ddl(table: Table) -> str:
    cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({cols})"


_PARKED_DDL = "CREATE TABLE IF NOT EXISTS parked_events (ts BIGINT, reason VARCHAR, event VARCHAR)"


FLEET_MODELS = "list_contains(?::VARCHAR[], model)"
"""How fleet queries match their models (one list parameter: the same SQL for any count)."""

INHERITED = (
    "modelhealth: this DuckDBStore ({path}) was opened by process {owner}, and process {pid}"
    " was forked from it (os.fork(): gunicorn preload_app, multiprocessing). A DuckDB"
    " connection cannot be used from a fork (the child's copy wrote nowhere, crashed, or"
    " corrupted the file) and a DuckDB file takes one writing process, so this store cannot"
    " be used here. Open a DuckDBStore in each worker after the fork (e.g. in gunicorn's"
    " post_fork hook; one file per writing worker), or log through KafkaSink and query Pinot"
)
"""What :class:`InheritedStore` says (``str.format`` with ``path``, ``owner`` and ``pid``)."""


class InheritedStore(ModelHealthError, RuntimeError):
    """A :class:`DuckDBStore` used in a process other than the one that opened it: a child
    made by ``os.fork()`` after the store was opened."""


class DuckDBStore:
    """Reads and writes the modelhealth tables in one DuckDB database (file or memory).

    DuckDB allows one writing process per file; other processes may open it ``read_only``
    while no writer holds it. Within a process, the store is safe to share between threads.

    The store belongs to the process that opened it (:attr:`pid`). In a child made by
    ``os.fork()`` every use raises :class:`InheritedStore`, and neither :meth:`close` nor
    the child's exit touches the connection (see :func:`_pin_inherited_stores`): the child's
    copy of a DuckDB connection read and wrote a stale copy of the database, and when it was
    closed or freed it checkpointed that copy into the file the parent was writing (QA:
    "Corrupt database file: computed checksum ... does not match"), or crashed the child.
    """

    def __init__(self, path: str | Path = ":memory:", read_only: bool = False) -> None:
        self.path = str(path)
        self._con, self._attached = _connect(self.path, read_only)
        self.pid = os.getpid()
        """The process that opened the connection, the only one that may use it."""
        self._lock = threading.RLock()
        _OPEN_STORES.add(self)
        if not read_only:
            for t in TABLES.values():
                self._con.execute(_ddl(t))
            self._con.execute(_PARKED_DDL)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The connection, if this process opened it; else :class:`InheritedStore`."""
        pid = os.getpid()
        if pid != self.pid:
            raise InheritedStore(INHERITED.format(path=self.path, owner=self.pid, pid=pid))
        return self._con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of :meth:`_connection` that reads this store's database (a cursor starts
        in the instance's default database, so an attached file is chosen again)."""
        cur = self._connection().cursor()
        if self._attached:
            cur.execute(f"USE {self._attached}")
        return cur

    # -- writing -----------------------------------------------------------------------------
    def append(self, batch: EventBatch) -> None:
        """Insert every table's rows of a batch in one transaction."""
        with self._lock:
            cur = self._cursor()
            cur.execute("BEGIN")
            try:
                for name, frame in batch.frames().items():
                    if len(frame):
                        cols = TABLES[name].column_names
                        cur.register("_incoming", frame[cols])
                        cur.execute(f"INSERT INTO {name} SELECT * FROM _incoming")
                        cur.unregister("_incoming")
                if batch.parked:
                    cur.executemany(
                        "INSERT INTO parked_events VALUES (?, ?, ?)",
                        [(p.ts, p.reason, p.event) for p in batch.parked],
                    )
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise

    # -- helpers -----------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        with self._lock:
            return self._cursor().execute(sql, list(params)).df()

    @staticmethod
    def _where(
        scope: Scope, features: list[str] | None = None, alias: str = ""
    ) -> tuple[str, list[object]]:
        """WHERE text and parameters for a scope; ``alias`` qualifies columns (``i.`` in joins)."""
        a = alias
        clauses = [f"{a}model = ?", f"{a}ts >= ?", f"{a}ts < ?"]
        params: list[object] = [scope.model, scope.start_ms, scope.end_ms]
        if scope.version is not None:
            clauses.append(f"{a}version = ?")
            params.append(scope.version)
        if scope.host is not None:
            clauses.append(f"{a}host = ?")
            params.append(scope.host)
        if features is not None:
            clauses.append(f"list_contains(?, {a}feature)")
            params.append(features)
        return " AND ".join(clauses), params

    @staticmethod
    def _bucket(step_ms: int | None, params: list[object]) -> tuple[str, str]:
        """SELECT prefix and GROUP BY fragment for optional time bucketing."""
        if step_ms is None:
            return "", ""
        params.insert(0, int(step_ms))
        params.insert(0, int(step_ms))
        return "(ts // ?) * ? AS bucket, ", "bucket"

    @staticmethod
    def _group(*parts: str) -> str:
        used = [p for p in parts if p]
        return (" GROUP BY " + ", ".join(used) + " ORDER BY " + ", ".join(used)) if used else ""

    # -- queries -------------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self._query("SELECT DISTINCT model FROM inferences ORDER BY model")["model"])

    def versions(self, model: str) -> list[str]:
        df = self._query(
            "SELECT DISTINCT version FROM inferences WHERE model = ? ORDER BY 1", [model]
        )
        return list(df["version"])

    def hosts(self, model: str) -> list[str]:
        df = self._query(
            "SELECT DISTINCT host FROM inferences WHERE model = ? AND host IS NOT NULL ORDER BY 1",
            [check_name(model, "model")],
        )
        return [str(h) for h in df["host"]]

    def time_range(
        self, model: str | None = None, version: str | None = None
    ) -> tuple[int, int] | None:
        where = ""
        params: list[object] = []
        if check_model_filter(model) is not None:
            where, params = " WHERE model = ?", [model]
        if check_version_filter(model, version) is not None:
            where += " AND version = ?"
            params.append(version)
        df = self._query("SELECT min(ts) AS lo, max(ts) AS hi FROM inferences" + where, params)
        if df.empty or pd.isna(df["lo"].iloc[0]):
            return None
        return int(df["lo"].iloc[0]), int(df["hi"].iloc[0])

    def latency(
        self, scope: Scope, step_ms: int | None = None, by_version: bool = False
    ) -> pd.DataFrame:
        return self._latency(*self._where(scope), step_ms, by_version)

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._score(*self._where(scope), step_ms)

    def score_histogram(self, scope: Scope, edges: Sequence[float]) -> pd.DataFrame:
        values = check_edges(edges)
        where, params = self._where(scope)
        bin_expr = " + ".join("CAST(score >= ? AS INTEGER)" for _ in values) or "0"
        sql = (
            f"SELECT {bin_expr} AS bin, count(*) AS count FROM inferences WHERE {where} "
            "GROUP BY bin ORDER BY bin"
        )
        return _ints(self._query(sql, [*values, *params]), "bin", "count")

    def feature_summary(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        where, params = self._where(check_feature_scope(scope), check_features(features))
        return self._summary(where, params, step_ms, by_version)

    def feature_histograms(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        where, params = self._where(check_feature_scope(scope), check_features(features))
        return self._histograms(where, params, step_ms, by_version)

    # -- fleet queries: one query for many models (the rules engine's FrameSource) ----------
    # Same columns as the per-model method plus a leading ``model``. A 10,000-rule tick over
    # 200 models runs 2 queries instead of 400 (benchmarks/rules.py). Models are matched with
    # ``list_contains(?, model)``: a semi-join on the unnested list (``model IN (SELECT
    # unnest(?))``), as fast, kept about 1 KB of native memory per query in DuckDB 2.0 (a
    # rules daemon grew 5.7 KB per tick, 8 MB a day at one tick a minute;
    # benchmarks/scheduler_memory.py).
    def fleet_latency(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        df = self._latency(where, params, step_ms, by_version, lead="model")
        return _each_model(df, models, step_ms is None and not by_version, ("count", "errors"))

    def fleet_score(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        if by_version:
            raise ValueError("score metrics cannot be grouped by version yet")
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        df = self._score(where, params, step_ms, lead="model")
        return _each_model(df, models, step_ms is None, ("count",))

    def fleet_feature_summary(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        return self._summary(where, params, step_ms, by_version, lead="model")

    def fleet_feature_histograms(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        return self._histograms(where, params, step_ms, by_version, lead="model")

    @staticmethod
    def _fleet_where(
        models: Sequence[str], start_ms: int, end_ms: int, version: str | None
    ) -> tuple[str, list[object]]:
        names = [check_name(m, "model") for m in models]
        if end_ms <= start_ms:
            raise ValueError(f"empty window: end {end_ms} <= start {start_ms}")
        clauses = [FLEET_MODELS, "ts >= ?", "ts < ?"]
        params: list[object] = [names, int(start_ms), int(end_ms)]
        if version is not None:
            clauses.append("version = ?")
            params.append(check_name(version, "version"))
        return " AND ".join(clauses), params

    # -- SQL shared by the per-model and fleet queries --------------------------------------
    def _latency(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        qs = ", ".join(
            f"quantile_cont(latency_ms, {q}) AS p{round(q * 100)}" for q in LATENCY_QUANTILES
        )
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}count(*) AS count, "
            "coalesce(sum(is_error), 0) AS errors, "
            f"avg(latency_ms) AS mean, {qs} FROM inferences WHERE {where}"
            + self._group(lead, ts_grp, v_grp)
        )
        return _ints(self._query(sql, params), "count", "errors")

    def _score(
        self, where: str, params: list[object], step_ms: int | None, lead: str = ""
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}count(*) AS count, avg(score) AS mean, "
            "stddev_pop(score) AS std, quantile_cont(score, 0.5) AS p50, "
            "quantile_cont(score, 0.9) AS p90, min(score) AS min, max(score) AS max "
            f"FROM inferences WHERE {where}" + self._group(lead, ts_grp)
        )
        return _ints(self._query(sql, params), "count")

    def _summary(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}feature, kind, "
            "sum(count) AS count, sum(nulls) AS nulls, sum(specials) AS specials, "
            'sum(valid) AS valid, sum("sum") AS sum, sum(sum_sq) AS sum_sq, '
            'min("min") AS min, max("max") AS max '
            f"FROM feature_stats WHERE {where}"
            + self._group(lead, ts_grp, v_grp, "feature", "kind")
        )
        return finish_summary(_ints(self._query(sql, params)))

    def _histograms(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}feature, bin, label, "
            f'sum("count") AS count FROM feature_bins WHERE {where}'
            + self._group(lead, ts_grp, v_grp, "feature", "bin", "label")
        )
        return _ints(self._query(sql, params), "bin", "count")

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        where, params = self._where(scope, alias="i.")
        params = [*params, int(scope.start_ms) - LABEL_SKEW_MS]
        sql = (
            "SELECT i.ts AS ts, i.request_id, i.score, o.label, o.ts AS ts_label "
            "FROM inferences i JOIN outcomes o ON o.model = i.model AND "
            f"o.request_id = i.request_id WHERE {where} AND o.ts >= ? "
            "ORDER BY i.ts, i.request_id, o.ts"
        )
        df = self._query(sql, params)
        if step_ms is not None and len(df):
            df["ts"] = (df["ts"] // step_ms) * step_ms
        return df

    def last_seen(self, until_ms: int | None = None) -> pd.DataFrame:
        where, params = ("WHERE ts < ?", [int(until_ms)]) if until_ms is not None else ("", [])
        return self._query(
            f"SELECT model, max(ts) AS last_ts FROM inferences {where} "
            "GROUP BY model ORDER BY model",
            params,
        )

    def parked_events(self, limit: int = 100) -> pd.DataFrame:
        return self._query("SELECT * FROM parked_events ORDER BY ts DESC LIMIT ?", [limit])

    def snapshot(self, target: str | Path) -> Path:
        """Publish a consistent copy for readers in other processes (atomic rename).

        DuckDB lets one process write a file; the demo keeps writing while the dashboard reads
        the latest snapshot, reopening it when the file changes.
        """
        import uuid

        target = Path(target)
        # a temp name of its own per call: two writers publishing to one target (two demos on
        # one folder) used to share ``.NAME.tmp``, deleting and locking each other's copy
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
        try:
            with self._lock:
                cur = self._cursor()
                source = cur.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
                cur.execute("ATTACH ? AS mh_snapshot", [str(tmp)])
                try:
                    cur.execute(f'COPY FROM DATABASE "{source}" TO mh_snapshot')
                finally:
                    cur.execute("DETACH mh_snapshot")
            os.replace(tmp, target)
        except BaseException:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
            raise
        return target

    def close(self) -> None:
        """Close the connection; in a forked child, leave it alone (its parent's to close:
        see the class doc) and raise nothing, so a worker's own cleanup may call this."""
        if os.getpid() != self.pid:
            never_finalize(self._con)
            return
        with self._lock:
            self._con.close()
        _OPEN_STORES.discard(self)


_OPEN_STORES: weakref.WeakSet[DuckDBStore] = weakref.WeakSet()
"""Every DuckDBStore alive (weakly held), for :func:`_pin_inherited_stores`."""


def _pin_inherited_stores() -> None:
    """In a child made by ``os.fork()``, keep every inherited store's connection from being
    finalized (:func:`~modelhealth.ingestion.forking.never_finalize`): the child that never
    touched its copy of the app's store still freed it at exit, and freeing it checkpointed
    into the parent's file, or crashed the child (SIGSEGV at interpreter shutdown)."""
    for store in list(_OPEN_STORES):
        never_finalize(store._con)
        if store.path != ":memory:":
            _INHERITED_FILES.add(os.path.realpath(store.path))


_INHERITED_FILES: set[str] = set()
"""In a forked child, the files that stores inherited from the parent have open."""


def _connect(path: str, read_only: bool) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """A connection of this process's own to ``path``, and the name of the database it
    attached for it (None: ``path`` is the connection's own database).

    DuckDB keeps one database instance per file and process, and a ``connect`` to a file the
    process already has open returns that instance. In a forked child the parent's instance
    (pinned, see :func:`_pin_inherited_stores`) is still registered, so a store the child
    opened on the same file got the parent's stale copy: a ``ReopeningDuckDB`` kept reading
    the file as it was at the fork after it had been replaced, and a writer wrote into the
    copy instead of meeting the parent's file lock. There the file is attached to a fresh
    in-memory instance, which opens and locks it as another process would."""
    if path == ":memory:" or os.path.realpath(path) not in _INHERITED_FILES:
        return duckdb.connect(path, read_only=read_only), None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH ? AS mh_file{' (READ_ONLY)' if read_only else ''}", [path])
        con.execute("USE mh_file")
    except BaseException:
        con.close()
        raise
    return con, "mh_file"


if hasattr(os, "register_at_fork"):  # POSIX only; nothing forks elsewhere
    os.register_at_fork(after_in_child=_pin_inherited_stores)


class DuckDBSink:
    """The SDK sink that writes straight into a :class:`DuckDBStore`."""

    single_process = True
    """A DuckDB file takes one writing process: a forked child's Monitor refuses its rows
    (:func:`~modelhealth.ingestion.forking.single_process`)."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    @property
    def pid(self) -> int:
        """The process whose connection this sink writes through (:attr:`DuckDBStore.pid`):
        a Monitor made in another process refuses its rows (see
        :func:`~modelhealth.ingestion.forking.inherited`)."""
        return self.store.pid

    def write(self, batch: EventBatch) -> None:
        self.store.append(batch)

    def close(self) -> None:
        """The store outlives the sink (the rules and dashboard keep reading it)."""


def _ints(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    if "bucket" in df.columns:
        df = df.rename(columns={"bucket": "ts"})
    for c in (*cols, "ts"):
        if c in df.columns:
            df[c] = df[c].astype("int64")
    return df


def _lead(column: str) -> str:
    return f"{column}, " if column else ""


def _each_model(
    df: pd.DataFrame, models: Sequence[str], one_row_each: bool, zero: tuple[str, ...]
) -> pd.DataFrame:
    """Give every model its row when the per-model query would (an aggregate with no GROUP
    BY answers one row, count 0, even over no data); grouped queries simply omit models."""
    if not one_row_each:
        return df
    wanted = sorted(set(models))
    out = df.set_index("model").reindex(wanted)
    for c in zero:
        out[c] = out[c].fillna(0).astype("int64")
    return out.rename_axis("model").reset_index()


class ReopeningDuckDB:
    """A read-only :class:`DuckDBStore` for ``rules eval``/``run`` that follows its *path*,
    not the file it first opened.

    - A file that cannot be opened yet (another process holds the write lock): every query
      tries again, and while it cannot be opened each raises :class:`StoreUnavailable`. The
      rules engine then reports the tick's rules as not evaluated and, after ``blind_after``
      such ticks, fires ``MonitoringBlind``: the command used to exit instead, and nobody
      was told that monitoring was blind.
    - A file replaced under the same name (a snapshot job writing a new file and renaming it
      into place): the next query opens the new file. An open connection reads the inode it
      opened, so a running ``rules run`` judged the first snapshot for ever, all clear.
    - A file deleted: each query raises :class:`StoreUnavailable` until it is back."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._store: DuckDBStore | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()  # the tick and the alert-delivery thread both query

    def _current_identity(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        return (st.st_dev, st.st_ino)

    def _open(self) -> DuckDBStore:
        with self._lock:
            identity = self._current_identity()
            if self._store is not None and self._store.pid != os.getpid():
                self._store.close()  # inherited through os.fork(): left alone, opened anew
                self._store = None
            if self._store is not None and identity != self._identity:
                log.warning("%s was replaced; reading the new file", self.path)
                self._store.close()
                self._store = None
            if self._store is None:
                try:
                    self._store = DuckDBStore(self.path, read_only=True)
                except Exception as exc:  # duckdb.IOException: locked, not a database, gone
                    raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
                self._identity = identity
            return self._store

    def open_now(self) -> None:
        """Open the file now (a scheduler says at start when it cannot, not at its first
        tick); raises :class:`StoreUnavailable` like any query would."""
        self._open()

    def __getattr__(self, name: str) -> object:
        getattr(DuckDBStore, name)  # AttributeError for what no DuckDBStore has
        return lambda *args, **kwargs: getattr(self._open(), name)(*args, **kwargs)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
