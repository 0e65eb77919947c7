"""`modelhealth demo --duration N` end to end: emails for incidents, none for the quiet model."""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from tests.conftest import free_port


def test_bounded_demo_mails_incidents_and_spares_the_quiet_model(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelhealth.cli",
            "demo",
            "--duration",
            "35",
            "--days",
            "0.5",
            "--tick",
            "5",
            "--no-dashboard",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "backfill" in proc.stdout and "done:" in proc.stdout
    # the folder is marked as the demo's: the next run may empty it (and no other)
    assert (out / ".modelhealth-demo").is_file()
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted((out / "mailbox").glob("*.eml"))
    ]
    subjects = [str(m["Subject"]) for m in mails]
    assert mails, proc.stdout[-3000:]
    assert any("churn" in s and "feature-drift" in s for s in subjects), subjects
    # --no-dashboard: no notification links to a port nothing listens on
    texts = [
        part.get_content()
        for m in mails
        for part in m.walk()
        if part.get_content_maintype() == "text"
    ]
    assert texts and not [t for t in texts if "127.0.0.1:8501" in t]
    assert any("fraud" in s and "p99-latency" in s for s in subjects), subjects
    assert not any("search" in s for s in subjects), subjects
    pages = [json.loads(line) for line in (out / "pager" / "events.jsonl").read_text().splitlines()]
    assert pages and all(p["payload"]["severity"] == "critical" for p in pages)
    assert not any(p["payload"]["source"] == "search" for p in pages)
    history = (out / "state" / "history.jsonl").read_text()
    assert '"model": "search"' not in history
    _check_learned_rules(out, proc.stdout)


def _check_learned_rules(out: Path, stdout: str) -> None:
    """The demo trains the learned detector and adds a p99 rule per model; over the backfill
    its band (what the dashboard's Configs page plots) alerts on fraud v3 only, within 10
    minutes of the regression's start at t0 - 3h. (Checked by hand for 16 start times over a
    day, every 137 minutes, so each phase of t0 against the 5-minute buckets: the same one
    alert each time, in the bucket holding the onset.)"""
    from modelhealth.dashboard.learned import band_frame, learned_rules
    from modelhealth.rules.config import load_rules
    from modelhealth.store.duckdb import DuckDBStore

    assert "learned detector: trained on" in stdout, stdout[-2000:]
    loaded = load_rules([out / "config" / "rules"])
    assert loaded.ok, loaded.issues
    rules = learned_rules(loaded.rules)
    assert sorted(r.model for r in rules) == ["churn", "fraud", "ranker", "search"]
    store = DuckDBStore(str(out / "snapshot.duckdb"), read_only=True)
    try:
        end = store.time_range()[1]
        alerts = []
        for rule in rules:
            band = band_frame(rule, store, end - 12 * 3_600_000, end)
            hits = band[band["alert"].astype(bool)]
            pairs = zip(hits["instance"], hits["ts"], strict=True)
            alerts += [(rule.model, i, int(t)) for i, t in pairs]
    finally:
        store.close()
    t0 = re.search(r"t0 = demo start = (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", stdout)
    assert t0, stdout[:500]
    onset = int(datetime.strptime(t0.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())
    onset = (onset - 3 * 3600) * 1000
    assert [(m, i) for m, i, _ in alerts] == [("fraud", "version=v3")], alerts
    # ts is the 5-minute bucket's start: the bucket holding the onset starts up to 5 min before
    assert onset - 300_000 < alerts[0][2] <= onset + 600_000, (alerts, onset)


def _serves(port: int) -> bool:
    """Whether something accepts connections on loopback ``port``."""
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_dashboard_stops_with_its_supervisor_and_a_failed_start_is_reported(
    tmp_path: Path,
) -> None:
    """`modelhealth dashboard` ran Streamlit as a child: the demo's terminate() stopped the
    wrapper and left Streamlit serving, orphaned. And a dashboard that could not start (its
    port taken) was announced with its URL anyway."""
    import socket
    import time

    from modelhealth.demo.wiring import dashboard_started, start_dashboard

    state = tmp_path / "state"
    state.mkdir()
    db = tmp_path / "none.duckdb"
    port = free_port()
    proc = start_dashboard(db, tmp_path, state, port)
    assert proc is not None
    try:
        # Streamlit took longer than the demo's 45 s to start on a busy box
        assert dashboard_started(proc, port, state / "dashboard.log", wait_s=180) == ""
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # nothing serves the port any more: an orphaned Streamlit would serve on forever, so
    # waiting out one that is merely still exiting (a fixed half second could be too short
    # on a busy box) keeps the check
    deadline = time.monotonic() + 30
    while _serves(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _serves(port), f"port {port} still served 30 s after the dashboard stopped"

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        proc = start_dashboard(db, tmp_path, state, busy)
        assert proc is not None
        problem = dashboard_started(proc, busy, state / "dashboard.log", wait_s=180)
    assert f"Port {busy} is not available" in problem and "exited with code 1" in problem
