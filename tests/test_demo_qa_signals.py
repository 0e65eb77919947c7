"""SIGINT and SIGTERM stop ``modelhealth demo`` cleanly at any moment: exit code 128 + the
signal (130, 143), no traceback, and no Streamlit left serving. Only the live loop used to
handle them: Ctrl-C during the backfill or training printed a KeyboardInterrupt traceback,
and SIGTERM during start-up killed the demo at once and left its dashboard orphaned.

Each test runs the real demo in a child process and signals it when its output reaches a
given phase."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelhealth.demo.runner import default_rules_dir
from tests.conftest import free_port


def _start(out: Path, *argv: str) -> tuple[subprocess.Popen[str], Path]:
    log = out.with_suffix(".log")
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelhealth.cli", "demo", "--out", str(out), *argv],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C never reaches the test runner
    )
    return proc, log


def _wait_for(proc: subprocess.Popen[str], log: Path, pattern: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log.read_text(errors="replace")):
        assert proc.poll() is None, f"demo exited before {pattern!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {pattern!r} after {timeout}s:\n{log.read_text()}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str], log: Path, sig: signal.Signals, timeout: float = 60) -> str:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    return text


def _streamlit_pids(state: Path) -> list[int]:
    """Processes serving the dashboard of the demo whose state folder is ``state``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "dashboard" in cmd and str(state) in cmd:
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("delay", [0.0, 0.4, 0.9, 1.3, 1.8])
def test_ctrl_c_during_the_backfill_exits_130_without_a_traceback(
    delay: float, tmp_path: Path
) -> None:
    """At several moments: DuckDB, interrupted mid-insert, raises ``RuntimeError: Query
    interrupted`` rather than the signal's own exception."""
    proc, log = _start(tmp_path / "demo", "--no-dashboard", "--days", "10")
    _wait_for(proc, log, r"backfill \[")
    time.sleep(delay)
    text = _stop(proc, log, signal.SIGINT)
    assert proc.returncode == 130, text
    assert "stopped" in text


def test_sigterm_during_training_exits_143_without_a_traceback(tmp_path: Path) -> None:
    proc, log = _start(tmp_path / "demo", "--no-dashboard", "--days", "0.1")
    _wait_for(proc, log, "training on")
    time.sleep(2)
    text = _stop(proc, log, signal.SIGTERM, timeout=120)
    assert proc.returncode == 143, text


def test_sigterm_while_the_dashboard_starts_stops_the_dashboard_too(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    state = out / "state"
    rules = str(default_rules_dir())  # no training: straight to the dashboard
    proc, log = _start(out, "--days", "0.1", "--rules", rules, "--dashboard-port", str(free_port()))
    deadline = time.monotonic() + 120
    while not _streamlit_pids(state):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    text = _stop(proc, log, signal.SIGTERM)
    assert proc.returncode == 143, text
    # an orphaned Streamlit serves on forever: wait out any that is merely still exiting
    # (a fixed half second could be too short on a busy box)
    deadline = time.monotonic() + 30
    while _streamlit_pids(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _streamlit_pids(state) == [], "the demo's Streamlit outlived it by 30 s"


def test_sigterm_in_the_live_loop_flushes_and_the_banner_names_the_alerts_db(
    tmp_path: Path,
) -> None:
    """The banner prints the demo's own alerting database and a silence command acting on it
    (README's bare ``modelhealth silence add`` acts on ./state/alerts.db, not the demo's)."""
    out = tmp_path / "demo"
    rules = str(default_rules_dir())
    proc, log = _start(out, "--no-dashboard", "--days", "0.1", "--rules", rules, "--tick", "1")
    _wait_for(proc, log, "live traffic running")
    text = _stop(proc, log, signal.SIGTERM)
    assert proc.returncode == 143, text
    assert "done:" in text, text
    alerts_db = out / "state" / "alerts.db"
    assert f"alerts db : {alerts_db}" in text, text
    # and the command that opens this demo's dashboard again later, on its snapshot
    later = next(line for line in text.splitlines() if "later     : " in line)
    later_argv = shlex.split(later.split("later     : ", 1)[1].split("  (", 1)[0])
    from modelhealth.dashboard.context import parse_settings

    settings = parse_settings(later_argv[2:])
    assert later_argv[:2] == ["modelhealth", "dashboard"], later
    assert settings.db == out / "snapshot.duckdb" and settings.db.exists()
    assert (settings.rules_dir, settings.alerts_db) == (Path(rules), alerts_db)
    command = next(line for line in text.splitlines() if "silence   : " in line)
    argv = shlex.split(command.split("silence   : ", 1)[1])
    assert argv[:3] == ["modelhealth", "silence", "add"] and argv[-2:] == ["--db", str(alerts_db)]
    added = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MODELHEALTH_ALERT_DB": str(tmp_path / "elsewhere.db")},
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", "silence", "list", "--db", str(alerts_db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "model=fraud" in listed.stdout, listed.stdout + listed.stderr
