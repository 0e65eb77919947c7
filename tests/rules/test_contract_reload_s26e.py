"""``rules run`` watches the data contracts its rule files name, and a contract with a bad
column entry does not freeze the rest of its rules file.

A contract kept in ``../contracts`` (the layout of ``examples/``) was not watched: fixing
or editing it took effect only after a restart, a SIGHUP, ``/-/reload`` or an edit to a
rules file, while an edited rule file is picked up within seconds. And since a contract
with a bad column entry no longer skips rules (its ``contract.*`` rules judge the other
columns), a reload kept the file's previous rules for as long as that entry was bad, so an
owner's edit of any other rule of the file was silently ignored.

A real ``rules run`` process on a DuckDB store filled through the SDK's ``Monitor``, its
alerts read from its own ``/metrics``; files edited on disk as an editor saves them.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import build_contract
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules
from modelhealth.rules.reload import ConfigWatch, reload_rules
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.rules.test_run_daemon import _metric, _rules_run, _until

FIRING = 'modelhealth_alerts{severity="warning",state="firing"}'
COUNTRIES = ["DE", "FR", "US"]
RULES = """\
model: fraud
contract: ../contracts/fraud.contract.yaml
rules:
  - name: every-column
    metric: contract.status
    window: 30m
    detector: {type: threshold, above: -1}
    severity: warning
"""
CANARY = """\
  - name: canary
    metric: count
    window: 30m
    detector: {type: threshold, above: -1}
    severity: warning
"""


def _training(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"amount": rng.lognormal(3, 1, n), "country": rng.choice(COUNTRIES, n)})


def _save(path: Path, text: str) -> None:
    """Write ``text`` as an editor saves: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _layout(tmp_path: Path) -> tuple[Path, Path, str]:
    """``rules/fraud.yaml`` naming ``contracts/fraud.contract.yaml``, whose country entry is
    misspelt; returns the rules folder, the contract and the contract's good text."""
    contract = tmp_path / "contracts" / "fraud.contract.yaml"
    contract.parent.mkdir()
    build_contract("fraud", _training()).save(contract)
    good = contract.read_text()
    assert "kind: categorical" in good
    _save(contract, good.replace("kind: categorical", "kind: categorial"))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES)
    return rules, contract, good


def _live_store(db: Path) -> Path:
    """40 minutes of fraud traffic ending now (the daemon ticks on the wall clock)."""
    now = datetime.now(UTC)
    store = DuckDBStore(db)
    reference = build_reference("fraud", _training())
    monitor = Monitor(DuckDBSink(store), {"fraud": reference}, clock=FakeClock(now))
    rng = np.random.default_rng(5)
    for minute in range(40, 0, -1):
        n = 20
        monitor.log_batch(
            model="fraud",
            version="v1",
            features={"amount": rng.lognormal(3, 1, n), "country": list(rng.choice(COUNTRIES, n))},
            score=rng.random(n),
            latency_ms=rng.random(n) * 10,
            ts_ms=np.full(n, to_epoch_ms(now - timedelta(minutes=minute))),
        )
    monitor.close()
    store.close()
    return db


def test_a_fixed_contract_takes_effect_without_a_restart(tmp_path: Path) -> None:
    """Fixing the contract's bad entry brings its column back into the running rules:
    country's contract.status alert fires beside amount's, with no rules file touched."""
    rules, contract, good = _layout(tmp_path)
    db = _live_store(tmp_path / "live.duckdb")
    with _rules_run(tmp_path, db, rules, "--interval", "2s", "--max-ticks", "300") as (_, port):
        _until(lambda: _metric(port, FIRING) == 1, "amount's alert (country left out)")
        _save(contract, good)
        _until(lambda: _metric(port, FIRING) == 2, "country's alert after the fix", 90)
    log = (tmp_path / "run.log").read_text()
    assert "reloaded rule files: 1 rule(s) (0 added, 0 edited, 0 removed), 0 error(s)" in log


def test_another_rules_edit_applies_while_the_contract_has_a_bad_entry(tmp_path: Path) -> None:
    """With country's entry still misspelt, a rule added to the same file runs at once
    (it waited for the contract to be fixed: the file's previous rules were kept)."""
    rules, _, _ = _layout(tmp_path)
    db = _live_store(tmp_path / "live.duckdb")
    with _rules_run(tmp_path, db, rules, "--interval", "2s", "--max-ticks", "300") as (_, port):
        _until(lambda: _metric(port, FIRING) == 1, "amount's alert (country left out)")
        _save(rules / "fraud.yaml", RULES + CANARY)
        _until(lambda: _metric(port, FIRING) == 2, "the added rule's alert", 90)
        assert _metric(port, "modelhealth_rules_loaded") == 2
    log = (tmp_path / "run.log").read_text()
    assert "previous rules stay in force" not in log
    reloaded = [line for line in log.splitlines() if "ERROR reload: " in line]
    assert reloaded and all("columns.1.kind" in line for line in reloaded)  # still said


def test_the_watch_follows_the_contract_a_rules_file_names(tmp_path: Path) -> None:
    """A rules file that starts naming another contract is watched on that one: editing
    the old contract is no longer a change, editing the new one is."""
    rules, contract, good = _layout(tmp_path)
    other = contract.with_name("other.contract.yaml")
    other.write_text(good)
    watch = ConfigWatch([rules], None, threading.Event())
    assert not watch.due()
    _save(contract, good)
    assert watch.due().rules
    _save(rules / "fraud.yaml", RULES.replace("fraud.contract.yaml", "other.contract.yaml"))
    assert watch.due().rules
    _save(contract, good + "\n")
    assert not watch.due()
    _save(other, good + "\n")
    assert watch.due().rules


def test_reload_keeps_the_previous_rules_only_of_files_that_skip_rules(tmp_path: Path) -> None:
    """A file whose only error is a partly read contract takes its new rules; a file with a
    broken rule keeps its previous ones, as before."""
    rules, _, _ = _layout(tmp_path)
    before = load_rules([rules])
    assert [r.name for r in before.rules] == ["every-column"] and len(before.issues) == 1
    _save(rules / "fraud.yaml", RULES + CANARY)
    after = reload_rules([rules], before)
    assert sorted(r.name for r in after.rules) == ["canary", "every-column"]
    _save(rules / "fraud.yaml", RULES + CANARY.replace("window: 30m", "window: 30 minutes"))
    kept = reload_rules([rules], after)
    assert sorted(r.name for r in kept.rules) == ["canary", "every-column"]
    assert next(r for r in kept.rules if r.name == "canary") is next(
        r for r in after.rules if r.name == "canary"
    )
