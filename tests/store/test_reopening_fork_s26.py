"""Stores opened in a forked child on a file its parent has open: a ``ReopeningDuckDB`` (the
read-only store of ``rules eval``/``run``) and a writer.

A plain ``DuckDBStore`` refuses to be used in a forked child (``InheritedStore``): the
connection it inherited is not its own. ``ReopeningDuckDB`` instead closes what it inherited
and opens the file afresh in the child, so a scheduler that forks workers (or is forked by a
pre-fork server) keeps answering. That branch had only been checked by hand, and it read
the parent's stale copy: DuckDB hands a process the instance it already has for a file, and
the child still has its parent's. Here the child must read the file as it is now, leave the
parent's connection working and the file intact, and a writer must be refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelhealth.store.duckdb import DuckDBSink, DuckDBStore, ReopeningDuckDB
from tests.ingestion.test_fork_s24e import _in_child
from tests.store.test_inherited_store_s25e import _batch, _request_ids

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _file_with_rows(path: Path) -> list[str]:
    store = DuckDBStore(path)
    DuckDBSink(store).write(_batch("r", 5))
    store.close()
    return _request_ids(path)


def test_a_child_reopens_the_file_and_reads_what_the_parent_reads(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    written = _file_with_rows(path)
    store = ReopeningDuckDB(path)
    parent_before = store.models()
    assert parent_before == ["m"]

    def child() -> dict[str, object]:
        return {"models": store.models(), "pid_ok": store._store.pid == os.getpid()}

    result = _in_child(child)
    assert result == {"models": ["m"], "pid_ok": True}, result
    # the parent's own connection still answers after the child opened, used and left
    assert store.models() == parent_before
    assert store._store is not None and store._store.pid == os.getpid()
    store.close()
    assert _request_ids(path) == written  # and the file is whole


def test_a_child_sees_a_file_replaced_after_the_parent_opened_it(tmp_path: Path) -> None:
    """The child opens the file now at the path, not the one the parent opened."""
    path = tmp_path / "h.duckdb"
    _file_with_rows(path)
    store = ReopeningDuckDB(path)
    assert store.models() == ["m"]
    fresh = tmp_path / "new.duckdb"
    other = DuckDBStore(fresh)
    batch = _batch("n", 2)
    batch.inferences["model"] = "other"
    DuckDBSink(other).write(batch)
    other.close()
    os.replace(fresh, path)

    result = _in_child(lambda: {"models": store.models()})
    assert result == {"models": ["other"]}, result
    store.close()


def test_a_store_a_child_opens_on_its_parents_file_meets_the_file_lock(tmp_path: Path) -> None:
    """A child that opens a store of its own on the file its parent is writing (a worker
    following "a store per worker after the fork" to the letter) must be refused, as another
    process is (the file is locked or in use): it used to get the parent's inherited
    database instance and write into that stale copy, reporting success, its rows lost."""
    path = tmp_path / "h.duckdb"
    parent = DuckDBStore(path)
    DuckDBSink(parent).write(_batch("p", 3))

    def child() -> dict[str, object]:
        try:
            DuckDBSink(DuckDBStore(path)).write(_batch("c", 3))
        except Exception as exc:  # DuckDB: the file is locked or in use
            return {"refused": True, "error": str(exc)[:200]}
        return {"refused": False}

    result = _in_child(child)
    assert result is not None and result["refused"] is True, result
    DuckDBSink(parent).write(_batch("q", 2))
    parent.close()
    assert _request_ids(path) == sorted([f"p-{i}" for i in range(3)] + ["q-0", "q-1"])


def test_a_reopening_store_in_a_child_reports_the_parents_lock_as_an_outage(
    tmp_path: Path,
) -> None:
    """Read-only in the child while the parent writes: StoreUnavailable (the rules engine's
    outage, then MonitoringBlind), as in any other process, not the parent's stale copy."""
    from modelhealth.errors import StoreUnavailable

    path = tmp_path / "h.duckdb"
    parent = DuckDBStore(path)
    DuckDBSink(parent).write(_batch("p", 3))
    reader = ReopeningDuckDB(path)

    def child() -> dict[str, object]:
        try:
            return {"models": reader.models()}
        except StoreUnavailable as exc:
            return {"unavailable": str(exc)[:200]}

    result = _in_child(child)
    assert result is not None and "unavailable" in result, result
    parent.close()
