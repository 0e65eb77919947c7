"""The scheduler's memory survives the process: restarts and cron-style ``eval --once``.

A QA pass found a restarted ``rules run`` evaluating a quiet ``trigger: new_data`` rule at
once (and resolving its firing alert as "no data"), and a DuckDB store that could not be
opened making ``rules eval`` exit, so MonitoringBlind could never fire."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import AlertState
from tests.conftest import T0
from tests.rules.test_cli_delivery import RULES, _fraud_store

NEW_DATA = """
model: fraud
rules:
  - name: busy
    metric: count
    window: 1h
    detector: {type: threshold, above: 0}
    trigger: new_data
"""


def test_a_restart_does_not_re_evaluate_a_new_data_rule_whose_model_went_quiet(
    seeded_store: DuckDBStore, tmp_path: Path
) -> None:
    path = tmp_path / "alerts.json"
    rules = load_rules_text(NEW_DATA, "n.yaml").rules
    first = Evaluator(rules, seeded_store, state=AlertStateStore(path))
    first.tick(T0)  # traffic up to T0: fires
    assert [a.state for a in first.state.alerts.values()] == [AlertState.FIRING]
    # the process restarts; no data after T0, so the rule must stay as it was
    restarted = Evaluator(rules, seeded_store, state=AlertStateStore(path))
    report = restarted.tick(T0 + timedelta(hours=2))
    assert report.skipped == 1 and report.resolved == []
    assert [a.state for a in restarted.state.alerts.values()] == [AlertState.FIRING]


def test_a_store_that_cannot_be_opened_makes_monitoring_blind_over_cron_evals(
    tmp_path: Path, fleet_refs, capsys
) -> None:
    db = _fraud_store(tmp_path, fleet_refs, days=0.1)
    (tmp_path / "fraud.yaml").write_text(RULES)
    holder = subprocess.Popen(  # another process holds DuckDB's write lock
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
         "print('locked', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        state = ["--state", str(tmp_path / "s" / "alerts.json")]
        codes = []
        for minute in range(3):
            at = (T0 + timedelta(minutes=minute)).isoformat()
            codes.append(rules_main(["eval", "--db", str(db), *state, "--at", at, str(tmp_path)]))
        out = capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    assert codes == [1, 1, 1]  # each eval reports the outage instead of exiting before it
    assert "cannot open" in out.err and "FIRING" in out.out and "MonitoringBlind" in out.out
    saved = AlertStateStore(tmp_path / "s" / "alerts.json")
    assert saved.scheduler["blind_ticks"] == 3
