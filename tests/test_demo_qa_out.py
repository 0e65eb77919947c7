"""``--out`` and the services are checked before anything is touched: a second demo on the
same folder refuses (it used to empty the running demo's folder, and both crashed), a
``--out`` that cannot be created and ``--backend pinot`` without services are one-line errors
with exit code 2 (they were tracebacks, the latter after emptying --out), and ``--days`` has an
upper bound. Snapshots of two writers to one target no longer share a temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from modelhealth.demo.runner import MARKER, default_rules_dir, demo_main
from modelhealth.store.duckdb import DuckDBStore
from tests.conftest import free_port, no_demo_work

DEMO = [sys.executable, "-m", "modelhealth.cli", "demo"]


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with no_demo_work():  # refused before any work
        code = demo_main(["--no-dashboard", "--duration", "0", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert lines[0].startswith("modelhealth demo: error: "), err
    return lines[0]


def test_a_second_demo_on_the_same_out_refuses_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    log = tmp_path / "first.log"
    rules = str(default_rules_dir())
    first = subprocess.Popen(
        [*DEMO, "--out", str(out), "--no-dashboard", "--days", "0.1", "--rules", rules],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "live traffic running" not in log.read_text():
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        before = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
        line = _one_line_error(capsys, "--out", str(out))
        assert f"pid {first.pid}" in line and "another `modelhealth demo`" in line
        after = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
        assert set(before) <= set(after)  # nothing deleted under the running demo
        assert (out / "state" / "alerts.db").exists() and first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert first.returncode == 130, log.read_text()
    assert "Traceback" not in log.read_text()


def test_the_lock_is_released_when_the_demo_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    rules = str(default_rules_dir())
    for _ in range(2):  # the second run may reuse the folder
        argv = ["--no-dashboard", "--duration", "0", "--days", "0.05", "--rules", rules]
        assert demo_main([*argv, "--out", str(out)]) == 0
        assert (out / MARKER).is_file()
    capsys.readouterr()


def test_an_out_whose_parent_is_a_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep")
    line = _one_line_error(capsys, "--out", str(afile / "sub"))
    assert "is not a folder" in line and str(afile) in line
    assert afile.read_text() == "keep"


def test_an_out_that_cannot_be_created_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _one_line_error(capsys, "--out", "/proc/modelhealth-demo-qa")
    assert "/proc/modelhealth-demo-qa" in line and "cannot create" in line


@pytest.mark.parametrize("days", ["31", "1000", "inf"])
def test_days_has_an_upper_bound(
    days: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_line_error(capsys, "--out", str(tmp_path / "d"), "--days", days)
    assert "--days" in line and "at most 30" in line
    assert not (tmp_path / "d").exists()


def test_backend_pinot_without_services_is_a_one_line_error_before_out_is_touched(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / MARKER).write_text("an earlier demo's folder\n")
    (out / "keep.txt").write_text("earlier run")
    env = {  # ports nothing listens on: the services are "down" whatever runs on this box
        **os.environ,
        "MODELHEALTH_KAFKA_PORT": str(free_port()),
        "MODELHEALTH_PINOT_CONTROLLER_PORT": str(free_port()),
        "MODELHEALTH_PINOT_BROKER_PORT": str(free_port()),
    }
    done = subprocess.run(
        [*DEMO, "--backend", "pinot", "--out", str(out), "--duration", "0", "--no-dashboard"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "modelhealth services up" in lines[0] or "pip install" in lines[0], lines
    assert (out / "keep.txt").read_text() == "earlier run"
    assert done.stdout == ""


def test_snapshots_of_two_writers_to_one_target_do_not_collide(tmp_path: Path) -> None:
    """Two stores (two demos on one folder) publishing to one target used to share the temp
    file ``.NAME.tmp``: one deleted or locked the other's half-written copy."""
    target = tmp_path / "snapshot.duckdb"
    stores = [DuckDBStore(tmp_path / f"w{i}.duckdb") for i in range(2)]
    for i, store in enumerate(stores):
        store._con.execute(f"CREATE TABLE writer{i} AS SELECT range AS x FROM range(200000)")
    errors: list[BaseException] = []

    def publish(store: DuckDBStore) -> None:
        try:
            for _ in range(15):
                store.snapshot(target)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    with duckdb.connect(str(target), read_only=True) as con:
        rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    tables = {r[0] for r in rows}
    assert tables & {"writer0", "writer1"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
