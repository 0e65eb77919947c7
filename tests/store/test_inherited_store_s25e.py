"""A DuckDBStore opened before ``os.fork()`` (a pre-fork server's app store, gunicorn's
``preload_app``, multiprocessing) belongs to the process that opened it.

A DuckDB file takes one writing process, and a DuckDB connection copied into a child is not
the child's to use. A child that queried its inherited store read through its parent's
connection; a child that closed it, or merely exited with it, checkpointed its stale copy of
the database into the parent's file, which then failed to open ("Corrupt database file").
Now any use of the store in the child raises an error saying what happened and what to do,
its close() and its finalisation leave the connection alone, and a Monitor made in the
child around the inherited store refuses its rows as one inherited through the fork does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.ingestion.test_fork_s24e import _in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


def _batch(tag: str, n: int = 3) -> EventBatch:
    return EventBatch(
        inferences=pd.DataFrame(
            {
                "ts": [1_700_000_000_000 + i for i in range(n)],
                "model": "m",
                "version": "v1",
                "host": "h",
                "request_id": [f"{tag}-{i}" for i in range(n)],
                "score": 0.5,
                "latency_ms": 1.0,
                "is_error": 0,
            }
        )
    )


def _request_ids(path: Path) -> list[str]:
    store = DuckDBStore(path, read_only=True)
    try:
        return sorted(store._query("SELECT request_id FROM inferences")["request_id"])
    finally:
        store.close()


def test_a_childs_query_on_an_inherited_store_raises_a_clear_error(tmp_path: Path) -> None:
    """In the child every use of the store (a query, a write, a snapshot) raises an error
    that names the fork and the way out; close() there raises nothing and leaves the
    parent's connection working."""
    store = DuckDBStore(tmp_path / "health.duckdb")
    store.append(_batch("parent"))

    def child() -> dict[str, object]:
        errors: dict[str, object] = {}
        for what, use in (
            ("models", store.models),
            ("append", lambda: store.append(_batch("child"))),
            ("snapshot", lambda: store.snapshot(tmp_path / "copy.duckdb")),
        ):
            try:
                errors[what] = f"no error: {use()!r}"
            except Exception as exc:
                errors[what] = f"{type(exc).__name__}: {exc}"
        store.close()
        return errors

    errors = _in_child(child)
    assert errors is not None, "the child hung"
    for what, text in errors.items():
        assert isinstance(text, str) and text.startswith("InheritedStore"), (what, text)
        assert f"process {os.getpid()}" in text and "os.fork()" in text, text
        assert "after the fork" in text and "KafkaSink" in text, text
    assert store.models() == ["m"]  # the parent's connection is untouched
    store.close()
    assert _request_ids(tmp_path / "health.duckdb") == ["parent-0", "parent-1", "parent-2"]
    assert not (tmp_path / "copy.duckdb").exists()


def test_a_monitor_made_in_the_child_refuses_rows_for_an_inherited_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Monitor and DuckDBSink made after the fork around the store opened before it
    behave as a Monitor inherited through the fork: log() returns False, the rows are
    counted as dropped with one warning naming the way out, and flush() and close()
    neither write nor raise."""
    store = DuckDBStore(tmp_path / "health.duckdb")
    store.append(_batch("parent"))

    def child() -> dict[str, object]:
        mon = Monitor(DuckDBSink(store), flush_interval=timedelta(hours=1))
        logged = [mon.log(**GOOD, request_id=f"child-{i}") for i in range(3)]
        mon.flush()
        mon.close()
        warnings = [r.getMessage() for r in caplog.records if "forked" in r.getMessage()]
        return {
            "logged": logged,
            "dropped": mon.stats.dropped_rows,
            "flush_errors": mon.stats.flush_errors,
            "warnings": warnings,
        }

    with caplog.at_level("WARNING", logger="modelhealth.ingestion.sdk"):
        result = _in_child(child)
    assert result is not None, "the child hung"
    assert result["logged"] == [False] * 3
    assert result["dropped"] == 3 and result["flush_errors"] == 0
    (warning,) = result["warnings"]
    assert "KafkaSink" in warning and "one file per worker" in warning
    store.append(_batch("parent-after"))
    store.close()
    ids = _request_ids(tmp_path / "health.duckdb")
    assert len(ids) == 6 and not any(i.startswith("child") for i in ids)


SERVER = """
import json, os, sys, time
import numpy as np
import pandas as pd
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.duckdb import DuckDBStore

path = sys.argv[1]
store = DuckDBStore(path)
n = 50_000


def batch(tag):
    rng = np.random.default_rng(len(tag))
    frame = pd.DataFrame({
        "ts": 1_700_000_000_000 + np.arange(n), "model": "m", "version": "v1", "host": "h",
        "request_id": [f"{tag}-{i}" for i in range(n)], "score": rng.random(n),
        "latency_ms": rng.random(n), "is_error": 0,
    })
    store.append(EventBatch(inferences=frame))


batch("parent-0")
pids = []
for how in ("close", "query", "exit"):
    pid = os.fork()
    if pid == 0:  # a worker: uses its inherited store its way, then exits the normal way
        try:
            if how == "close":
                store.close()
            elif how == "query":
                store.models()
            outcome = "ok"
        except Exception as exc:
            outcome = type(exc).__name__
        time.sleep(1.0)  # still alive while the parent writes
        print(json.dumps({"child": how, "outcome": outcome}), flush=True)
        sys.exit(0)
    pids.append(pid)
for k in range(1, 4):
    batch(f"parent-{k}")
exits = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
batch("parent-4")
store.close()
print(json.dumps({"parent": "done", "exits": exits}), flush=True)
"""


def test_children_leave_the_parents_duckdb_file_whole(tmp_path: Path) -> None:
    """A pre-fork server: the parent writes while three workers close their inherited
    store, query it, or leave it alone, each then exiting through interpreter shutdown.
    Each worker exits with status 0 (the query got the error, the close() none; before,
    the workers died of SIGSEGV in close() or at exit, or corrupted the file), and the
    file opens afterwards and holds exactly the parent's rows. Run in a subprocess: the
    fork must not copy pytest, and the workers must exit the normal way."""
    path = tmp_path / "health.duckdb"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    outcomes = {r["child"]: r["outcome"] for r in reports if "child" in r}
    assert outcomes == {"close": "ok", "query": "InheritedStore", "exit": "ok"}
    assert {"parent": "done", "exits": [0, 0, 0]} in reports, reports
    ids = _request_ids(path)  # could raise "Corrupt database file" before
    assert len(ids) == 5 * 50_000 and all(i.startswith("parent-") for i in ids)
