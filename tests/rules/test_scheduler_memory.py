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


def test_an_outage_is_counted_for_new_data_rules_too(tmp_path: Path) -> None:
    """With every rule on trigger: new_data, a store that could not say what was new made
    every rule skip: no error, no MonitoringBlind, exit 0."""
    from modelhealth.store.duckdb import ReopeningDuckDB

    broken = tmp_path / "not-a-database.duckdb"
    broken.write_text("this is not a DuckDB file")
    rules = load_rules_text(NEW_DATA, "n.yaml").rules
    ev = Evaluator(rules, ReopeningDuckDB(broken), state=AlertStateStore(tmp_path / "a.json"))
    reports = [ev.tick(T0 + timedelta(minutes=m)) for m in range(3)]
    assert all(r.store_failed and r.errors for r in reports)
    blind = [a for a in ev.state.alerts.values() if a.labels["alertname"] == "MonitoringBlind"]
    assert [a.state for a in blind] == [AlertState.FIRING]


def test_data_whose_evaluation_failed_is_judged_at_the_next_tick(
    seeded_store: DuckDBStore, tmp_path: Path, monkeypatch
) -> None:
    """The newest row a new_data rule saw was remembered before the rule ran: when its
    queries then failed, the next tick saw nothing new and that data was never judged."""
    from modelhealth.errors import StoreUnavailable

    rules = load_rules_text(NEW_DATA, "n.yaml").rules
    ev = Evaluator(rules, seeded_store, state=AlertStateStore(tmp_path / "a.json"), retries=0)
    real = seeded_store.latency

    def down(*args, **kwargs):
        raise StoreUnavailable("timeout")

    monkeypatch.setattr(seeded_store, "latency", down)
    assert ev.tick(T0).errors  # saw new data, failed to evaluate it
    monkeypatch.setattr(seeded_store, "latency", real)
    again = ev.tick(T0 + timedelta(minutes=1))  # no newer data, but the last was never judged
    assert again.evaluated == 1 and again.skipped == 0


def test_two_state_files_in_one_folder_keep_their_own_scheduler_memory(tmp_path: Path) -> None:
    a, b = AlertStateStore(tmp_path / "a.json"), AlertStateStore(tmp_path / "b.json")
    a.scheduler, b.scheduler = {"blind_ticks": 1}, {"blind_ticks": 2}
    a.save()
    b.save()
    assert AlertStateStore(tmp_path / "a.json").scheduler == {"blind_ticks": 1}
    assert AlertStateStore(tmp_path / "b.json").scheduler == {"blind_ticks": 2}


def test_state_files_are_readable_like_any_file_the_user_writes(tmp_path: Path) -> None:
    """mkstemp made alerts.json owner-only: a dashboard run by another user could not read
    the alerts (the learned models had the same fix)."""
    import os

    store = AlertStateStore(tmp_path / "a.json")
    store.scheduler = {"blind_ticks": 0}
    store.save()
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("a.json", "a.scheduler.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_store_file_replaced_under_its_name_is_read_again(tmp_path: Path, fleet_refs) -> None:
    """A snapshot job writes a new file and renames it into place: a running ``rules run``
    kept reading the inode it had opened, so it judged the first snapshot for ever."""
    from modelhealth.store.duckdb import ReopeningDuckDB

    live = tmp_path / "snapshot.duckdb"
    DuckDBStore(live).close()  # an empty snapshot: no traffic yet
    rules = load_rules_text(NEW_DATA, "n.yaml").rules
    store = ReopeningDuckDB(live)
    ev = Evaluator(rules, store, state=AlertStateStore(tmp_path / "a.json"))
    assert store.last_seen().empty
    (tmp_path / "job").mkdir()
    _fraud_store(tmp_path / "job", fleet_refs, days=0.1).replace(live)
    report = ev.tick(T0)
    assert not report.store_failed
    assert [a.state for a in ev.state.alerts.values()] == [AlertState.FIRING]
    live.unlink()  # gone: an outage the engine reports, not the old file's answers
    assert ev.tick(T0 + timedelta(minutes=5)).store_failed
