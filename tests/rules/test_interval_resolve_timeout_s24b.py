"""``rules run`` with a tick interval longer than the routing's ``resolve_timeout``.

Firing alerts are re-reported once a tick; the delivery thread timed them out between two
ticks, so each tick paged again and the page resolved ``resolve_timeout`` later (with
``--interval 10m`` and the default 5m: a new page and a resolve every 10 minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.alerting.conftest import Receiver
from tests.rules.test_run_daemon import LOUD, write_live_store


def test_a_firing_alert_pages_once_over_ticks_longer_than_resolve_timeout(
    tmp_path: Path, fleet_refs
) -> None:
    db = write_live_store(tmp_path / "live.duckdb", fleet_refs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    hook = Receiver()
    routing = tmp_path / "routing.yaml"
    routing.write_text(f"""
global: {{resolve_timeout: 1s}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers:
  - {{name: hook, webhook: {{url: "{hook.url}"}}}}
""")
    cmd = [sys.executable, "-m", "modelhealth.cli", "rules", "run", "--db", str(db),
           "--state", str(tmp_path / "state" / "alerts.json"), "--interval", "2s",
           "--max-ticks", "3", "--routing", str(routing), str(rules)]  # fmt: skip
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    finally:
        hook.close()
    assert run.returncode == 0, run.stderr[-2000:]
    # 3 ticks 2 s apart: every gap between two reports outlasts the 1 s resolve_timeout
    assert [b["status"] for b in hook.bodies] == ["firing"], run.stderr[-2000:]
    assert "an alert no longer reported resolves after 8s" in run.stderr
