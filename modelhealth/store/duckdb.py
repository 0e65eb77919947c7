"""Embedded DuckDB backend: the default store, so everything runs on a laptop.

This module opens the connection (one per process: see :class:`DuckDBStore` on forks),
creates the tables and writes them (:meth:`DuckDBStore.append`, :meth:`DuckDBStore.snapshot`),
and runs the query statements of :mod:`modelhealth.store.duckdb_sql` (answers shaped by
:mod:`modelhealth.store.duckdb_frames`). Only fixed fragments are concatenated; every
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
from modelhealth.store.duckdb_sql import FLEET_MODELS, DuckDBQueries

__all__ = [
    "FLEET_MODELS",
    "INHERITED",
    "DuckDBQueries",
    "DuckDBSink",
    "DuckDBStore",
    "InheritedStore",
    "ReopeningDuckDB",
]

log = logging.getLogger(__name__)

_SQL_TYPES = {"LONG": "BIGINT", "INT": "INTEGER", "DOUBLE": "DOUBLE", "STRING": "VARCHAR"}


def _ddl(table: Table) -> str:
    cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({cols})"


_PARKED_DDL = "CREATE TABLE IF NOT EXISTS parked_events (ts BIGINT, reason VARCHAR, event VARCHAR)"


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


class DuckDBStore(DuckDBQueries):
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
