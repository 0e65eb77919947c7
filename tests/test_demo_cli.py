"""`modelhealth demo --duration N` end to end: emails for incidents, none for the quiet model."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path


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
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted((out / "mailbox").glob("*.eml"))
    ]
    subjects = [str(m["Subject"]) for m in mails]
    assert mails, proc.stdout[-3000:]
    assert any("churn" in s and "feature-drift" in s for s in subjects), subjects
    assert any("fraud" in s and "p99-latency" in s for s in subjects), subjects
    assert not any("search" in s for s in subjects), subjects
    pages = [json.loads(line) for line in (out / "pager" / "events.jsonl").read_text().splitlines()]
    assert pages and all(p["payload"]["severity"] == "critical" for p in pages)
    assert not any(p["payload"]["source"] == "search" for p in pages)
    history = (out / "state" / "history.jsonl").read_text()
    assert '"model": "search"' not in history
