"""``rules run`` stopped by SIGTERM (systemd, Kubernetes, ``docker stop``) stops cleanly.

SIGTERM killed the scheduler at once: a page the receiver had already accepted was never
marked sent, so the next start paged again, the exit code was -15 and nothing was logged."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from modelhealth.alerting.outbox import Outbox
from tests.alerting.conftest import Receiver
from tests.rules.test_run_daemon import LOUD, write_live_store

DIES_WITHIN_S = 2.0
"""How long a process killed by the signal's default action may take to be reaped."""


def _routing(tmp_path: Path, url: str) -> Path:
    routing = tmp_path / "routing.yaml"
    routing.write_text(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
receivers:
  - {{name: hook, webhook: {{url: "{url}", timeout: 30}}}}
""")
    return routing


def test_sigterm_during_a_delivery_marks_it_sent_and_exits_0(tmp_path: Path, fleet_refs) -> None:
    """The receiver holds the page until the scheduler has had SIGTERM (and, killed, would
    have died): the page is marked sent, so a restart does not page again."""
    db = write_live_store(tmp_path / "live.duckdb", fleet_refs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    arrived, release = threading.Event(), threading.Event()
    hook = Receiver()
    hook.on_post = lambda: (arrived.set(), release.wait(30))
    state = tmp_path / "state" / "alerts.json"
    cmd = [sys.executable, "-m", "modelhealth.cli", "rules", "run", "--db", str(db),
           "--state", str(state), "--interval", "1m",
           "--routing", str(_routing(tmp_path, hook.url)), str(rules)]  # fmt: skip
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            assert arrived.wait(60), "the page never reached the receiver"
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):  # stopping: it waits for
                proc.wait(DIES_WITHIN_S)  # the page under way; killed outright, it is gone
            release.set()
            code = proc.wait(30)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
            hook.close()
    lines = log_path.read_text().splitlines()
    assert code == 0, lines[-5:]
    assert "SIGTERM: stopped after 1 tick(s)" in lines[-1], lines[-5:]
    box = Outbox(state.with_name("alerts.db"))
    try:
        assert [(r.receiver, r.status) for r in box.rows()] == [("hook", "sent")]
    finally:
        box.close()
