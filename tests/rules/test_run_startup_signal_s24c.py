"""Ctrl-C or SIGTERM while ``rules run`` starts stops it with one line and exit 0.

``rules run`` took SIGTERM and SIGINT only once its loop started: during the seconds of
imports, rule loading and store opening before it, SIGTERM killed it without a word (exit
-15) and Ctrl-C printed a KeyboardInterrupt traceback. It exits 0, as for a signal between
ticks, so a supervisor that stops it early does not count a failure.

``python -X importtime`` reports each import as it completes, on stderr: the test sends the
signal when scipy's first module is in (the rule engine's, seconds before the first tick).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

RULES = """
model: fraud
rules:
  - name: slow
    metric: latency.p99
    window: 5m
    detector: {type: threshold, above: 100000}
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    """``rules run`` under ``-X importtime``; its stderr lines and an event set once
    scipy's first module is imported."""
    db = tmp_path / "health.duckdb"
    duckdb.connect(str(db)).close()  # an empty but real database: the loop would start
    rules = tmp_path / "fraud.yaml"
    rules.write_text(RULES)
    state = tmp_path / "state" / "alerts.json"
    cmd = [sys.executable, "-X", "importtime", "-m", "modelhealth.cli", "rules", "run",
           "--db", str(db), "--state", str(state), str(rules)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    lines: list[str] = []
    scipy_in = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("import time:") and line.split("|")[-1].strip().startswith("scipy"):
                scipy_in.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, scipy_in


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_starting_stops_with_one_line(sig: signal.Signals, tmp_path: Path) -> None:
    proc, lines, scipy_in = _start(tmp_path)
    try:
        assert scipy_in.wait(120), lines[-20:]
        proc.send_signal(sig)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = [ln for ln in lines if not ln.startswith("import time:")]
    assert code == 0, said
    assert said == [f"rules run: {sig.name}: stopped while starting, before the first tick"], said
    assert not (tmp_path / "state").exists()  # nothing was evaluated
