"""A Monitor writing to DuckDB, made before ``os.fork()`` (gunicorn ``preload_app``,
multiprocessing): a DuckDB file takes one writing process, and a DuckDB connection copied
into a child is not the child's to use.

A child wrote through its parent's connection: ``flush()`` reported success and the rows
were lost, or corrupted the file the parent kept writing; a child that wrote nothing
corrupted it too, when its copy of the connection checkpointed at the child's exit. Now the
child refuses the rows (counted in ``stats.dropped_rows``, one warning saying to use
``KafkaSink`` or one file per worker) and never touches the file, and the parent's file
stays whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.ingestion import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.ingestion.test_fork_s24e import _in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


def _request_ids(path: Path) -> list[str]:
    store = DuckDBStore(path, read_only=True)
    try:
        return sorted(store._query("SELECT request_id FROM inferences")["request_id"])
    finally:
        store.close()


def test_a_forked_child_refuses_rows_for_the_parents_duckdb_sink(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The child's log() returns False and its rows are counted as dropped, with one
    warning naming the way out; log_batch, log_outcome and flush() neither write nor
    raise there, and the parent's Monitor keeps writing its file as before."""
    store = DuckDBStore(tmp_path / "health.duckdb")
    mon = Monitor(DuckDBSink(store), flush_interval=timedelta(hours=1))
    assert mon.log(**GOOD, request_id="parent-0")
    mon.flush()

    def child() -> dict[str, object]:
        logged = [mon.log(**GOOD, request_id=f"child-{i}") for i in range(3)]
        rows = mon.log_batch(
            model="m", version="v1", features={"a": [1.0, 2.0]}, score=[0.1, 0.2],
            latency_ms=[1.0, 1.0], request_ids=["child-b0", "child-b1"],
        )  # fmt: skip
        labelled = mon.log_outcome(model="m", request_id="parent-0", label=1)
        mon.flush()
        mon.close()
        warnings = [r.getMessage() for r in caplog.records if "forked" in r.getMessage()]
        return {
            "logged": logged,
            "batch": rows,
            "labelled": labelled,
            "dropped": mon.stats.dropped_rows,
            "by_table": dict(mon.stats.dropped_by_table),
            "warnings": warnings,
        }

    with caplog.at_level("WARNING", logger="modelhealth.ingestion.sdk"):
        result = _in_child(child)
    assert result is not None, "the child hung"
    assert result["logged"] == [False] * 3 and result["batch"] == 0
    assert result["labelled"] is False
    assert result["dropped"] == 6 and result["by_table"] == {"inferences": 5, "outcomes": 1}
    (warning,) = result["warnings"]  # once, not once per refused row
    assert "KafkaSink" in warning and "one file per worker" in warning
    assert mon.log(**GOOD, request_id="parent-1")
    mon.close()
    store.close()
    assert _request_ids(tmp_path / "health.duckdb") == ["parent-0", "parent-1"]


SERVER = """
import json, os, sys, time
import numpy as np
from datetime import timedelta
from modelhealth.ingestion import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

path, children = sys.argv[1], int(sys.argv[2])
store = DuckDBStore(path)
mon = Monitor(DuckDBSink(store), flush_interval=timedelta(hours=1), max_batch=10**6)
n = 50_000


def batch(tag):
    rng = np.random.default_rng(len(tag))
    mon.log_batch(model="m", version="v1",
                  features={"a": rng.random(n), "b": rng.random(n), "c": rng.random(n)},
                  score=rng.random(n), latency_ms=rng.random(n),
                  request_ids=[f"{tag}-{i}" for i in range(n)])
    mon.flush()


batch("parent-0")
pids = []
for w in range(children):
    pid = os.fork()
    if pid == 0:  # a worker: logs, flushes, then exits the normal way (interpreter shutdown)
        batch(f"child{w}")
        time.sleep(1.0)  # still alive while the parent writes
        print(json.dumps({"child": w, "dropped": mon.stats.dropped_rows}), flush=True)
        sys.exit(0)
    pids.append(pid)
for k in range(1, 4):
    batch(f"parent-{k}")
for pid in pids:
    os.waitpid(pid, 0)
batch("parent-4")
mon.close()
store.close()
print(json.dumps({"parent": "done"}), flush=True)
"""


def test_forked_workers_leave_the_parents_duckdb_file_whole(tmp_path: Path) -> None:
    """A pre-fork server: the parent writes while two workers log a batch each and then
    exit normally. The file opens afterwards and holds exactly the parent's rows (the
    workers' counted as dropped there). Before, it failed to open ("Corrupt database
    file"), whether or not the workers wrote. Run in a subprocess: the fork must not copy
    pytest, and the workers must exit through interpreter shutdown."""
    path = tmp_path / "health.duckdb"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(path), "2"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    children = sorted((r for r in reports if "child" in r), key=lambda r: r["child"])
    assert children == [{"child": 0, "dropped": 50_000}, {"child": 1, "dropped": 50_000}]
    assert {"parent": "done"} in reports
    ids = _request_ids(path)  # raised "Corrupt database file" before
    assert len(ids) == 5 * 50_000 and all(i.startswith("parent-") for i in ids)
