"""Contract rules on a feed that stops, starts or splits over versions, and on a contract
with one bad column entry.

The store is a real DuckDB store filled through the SDK's ``Monitor``; rules are loaded
from files as ``modelhealth rules`` loads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import build_contract
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import LoadResult, load_rules
from modelhealth.rules.evaluator import Evaluator, TickReport
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PER_MINUTE = 60
EXPECTED = 1800  # 30 minutes at 60 rows a minute: the rules' 30m window
COUNTRIES = ["DE", "FR", "US"]


def _training(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"amount": rng.lognormal(3, 1, n), "country": rng.choice(COUNTRIES, n)})


def _store(
    path: Path | None, traffic: Sequence[tuple[str, int, int, int]], null_amount: float = 0.0
) -> DuckDBStore:
    """A store holding model fraud's traffic: ``(version, first minute, last minute
    (excluded), rows a minute)`` after START; ``null_amount`` of the amounts are null."""
    train = _training()
    reference = build_reference("fraud", train)
    store = DuckDBStore(path or ":memory:")
    monitor = Monitor(DuckDBSink(store), {"fraud": reference}, clock=FakeClock(START))
    rng = np.random.default_rng(11)
    for version, first, last, n in traffic:
        for minute in range(first, last):
            ts = to_epoch_ms(START + timedelta(minutes=minute))
            amount = rng.lognormal(3, 1, n).astype(object)
            amount[rng.random(n) < null_amount] = None
            monitor.log_batch(
                model="fraud",
                version=version,
                features={"amount": amount, "country": list(rng.choice(COUNTRIES, n))},
                score=rng.random(n),
                latency_ms=rng.random(n) * 10,
                ts_ms=np.full(n, ts),
            )
    monitor.close()
    return store


def _rules(tmp_path: Path, body: str, expected_rows: int | None = EXPECTED) -> LoadResult:
    contract = dataclasses.replace(
        build_contract("fraud", _training()), expected_rows=expected_rows
    )
    (tmp_path / "contracts").mkdir(exist_ok=True)
    contract.save(tmp_path / "contracts" / "fraud.contract.yaml")
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "fraud.yaml").write_text(
        "model: fraud\ncontract: ../contracts/fraud.contract.yaml\nrules:\n" + body
    )
    loaded = load_rules([folder])
    assert loaded.ok, [str(i) for i in loaded.issues]
    return loaded


ROWS_RULE = """\
  - name: rows
    metric: contract.row_count_change
    window: 30m
    detector: {type: threshold, above: 0.5}
    severity: critical
"""


def _tick(loaded: LoadResult, store: DuckDBStore, minutes: int) -> TickReport:
    report = Evaluator(loaded.rules, store).tick(START + timedelta(minutes=minutes))
    assert not report.errors, report.errors
    return report


def test_a_feed_that_stops_fires_the_row_count_rule(tmp_path):
    """A model that sent ~1800 rows a window and then none read "no value" instead of
    0 rows where 1800 were expected: the row count had no instance without traffic, so a
    dead feed never paged. It must fire, critical by the contract's own bands."""
    store = _store(None, [("v1", 0, 60, PER_MINUTE)])
    loaded = _rules(tmp_path, ROWS_RULE)
    assert _tick(loaded, store, 45).firing == []  # 10:15-10:45: 1800 rows, as expected
    report = _tick(loaded, store, 105)  # 11:15-11:45: nothing since 11:00
    assert [(a.labels["check"], a.value) for a in report.firing] == [("row_count_change", 1.0)]
    note = report.firing[0].annotations["contract"]
    assert note == "row_count_change=1 (critical > 0.9) 0 rows, expected 1800"


def test_a_model_without_any_row_is_not_judged(tmp_path):
    """A model that never sent data (a misspelt or undeployed one) is not reported as a
    dead feed: the tick says it has no rows in the store, as it does for every rule."""
    store = _store(None, [])
    loaded = _rules(tmp_path, ROWS_RULE)
    report = _tick(loaded, store, 45)
    assert report.firing == [] and report.instances == 0
    assert report.no_rows == {"fraud/rows": "model fraud has no rows in the store"}


def test_windows_before_and_at_go_live_are_not_judged(tmp_path):
    """The window a model goes live in holds part of a window's rows: at 10:10 the rule
    read 600 of 1800 rows, 0.67 short, and paged for a new deployment. A window before
    the first data is not a stopped feed either. Both are not judged, saying from when."""
    store = _store(None, [("v1", 0, 60, PER_MINUTE)])
    loaded = _rules(tmp_path, ROWS_RULE)
    for minutes in (10, -60):
        report = _tick(loaded, store, minutes)
        assert report.firing == [] and report.instances == 0, minutes
        why = report.not_judged["fraud/rows"]
        assert (
            "before the first data of model fraud in the store (2026-11-20T10:00:00+00:00)" in why
        )
        assert why.endswith("judged from 2026-11-20T10:30:00+00:00 on"), why
    assert [a.value for a in _tick(loaded, store, 30).firing] == []  # the first full window


VERSION_RULE = ROWS_RULE + "    group_by: [version]\n"


def test_row_count_by_version_is_the_models(tmp_path):
    """``expected_rows`` is the model's: judged per version, a canary taking 10% of the
    traffic read 180 of 1800 rows, 0.9 short, and paged as long as it ran. With
    ``group_by: [version]`` the row count is judged once, on every version's rows."""
    store = _store(None, [("v1", 0, 60, 54), ("v2", 0, 60, 6)])
    loaded = _rules(tmp_path, VERSION_RULE)
    report = _tick(loaded, store, 45)
    assert report.firing == [] and report.instances == 1  # one, for the model


def test_a_whole_model_stopping_fires_once_with_group_by_version(tmp_path):
    """With ``group_by: [version]`` a model whose every version stopped had no instance at
    all. It fires once, for the model (no version label): a retired version alone never
    pages, while the model still gets its expected rows from another version."""
    store = _store(None, [("v1", 0, 20, PER_MINUTE), ("v2", 20, 60, PER_MINUTE)])
    loaded = _rules(tmp_path, VERSION_RULE)
    assert _tick(loaded, store, 55).firing == []  # v1 retired at 10:20, v2 carries on
    report = _tick(loaded, store, 105)
    assert [dict(a.labels) for a in report.firing] == [
        {
            "alertname": "rows",
            "severity": "critical",
            "metric": "contract.row_count_change",
            "model": "fraud",
            "check": "row_count_change",
        }
    ]


STATUS_RULE = """\
  - name: status
    metric: contract.status
    window: 30m
    detector: {type: threshold, above: 1.5}
    severity: critical
"""


def _break_country(contract: Path) -> int:
    """Misspell the kind of column country; returns the line it is on."""
    lines = contract.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "kind: categorical")
    lines[at] = lines[at].replace("categorical", "categorial")
    contract.write_text("".join(lines))
    return at + 1


def test_one_bad_column_leaves_the_other_columns_checked(tmp_path, capsys):
    """One mistyped column entry disabled every contract rule of the model (0 rules
    loaded), though ``contract validate`` checks the other columns. The bad entry is one
    error naming the contract's file:line, column and what was expected, and the rules
    still judge the good columns: amount's null spike fires."""
    _rules(tmp_path, STATUS_RULE, expected_rows=None)
    contract = tmp_path / "contracts" / "fraud.contract.yaml"
    line = _break_country(contract)
    rules = tmp_path / "rules"
    assert rules_main(["validate", str(rules)]) == 1
    err = capsys.readouterr()
    assert "1 rule(s) in 1 file(s); 1 error(s)" in err.out
    shown = f"{rules}/../contracts/fraud.contract.yaml"
    assert err.err.strip() == (
        f"{rules}/fraud.yaml:2:11: contract: invalid contract {shown}: {shown}:{line}:3: "
        "column country: columns.1.kind: kind must be 'numeric' or 'categorical', got str "
        "'categorial' (did you mean 'categorical'?); the contract.* rules leave out "
        "column(s) country until fixed and check the other 1 column(s)"
    )

    db = tmp_path / "fraud.duckdb"
    _store(db, [("v1", 0, 60, PER_MINUTE)], null_amount=0.5).close()
    at = (START + timedelta(minutes=45)).isoformat()
    args = ["eval", "--db", str(db), "--at", at, "--alerts-db", str(tmp_path / "a.db")]
    assert rules_main([*args, str(rules)]) == 1  # the error still fails the command
    out = capsys.readouterr()
    firing = [line for line in out.out.splitlines() if " FIRING " in line]
    assert len(firing) == 1 and firing[0].endswith("1 feature(s) of fraud: amount=2"), out
    assert "columns.1.kind" in out.err  # said again where the rules run


@pytest.mark.parametrize("broken", ["model: [fraud]\n", "columns: {}\n"])
def test_a_contract_broken_for_every_column_still_skips_its_rules(tmp_path, broken):
    """What concerns every column (the model, the columns' shape) cannot be checked in
    part: the contract rules are skipped with one error, and the file's other rules load."""
    _rules(tmp_path, STATUS_RULE)
    contract = tmp_path / "contracts" / "fraud.contract.yaml"
    text = contract.read_text()
    key = broken.split(":")[0]
    start = text.index(f"\n{key}:") + 1
    end = text.index("\n", start) + 1
    if key == "columns":
        end = len(text)
    contract.write_text(text[:start] + broken + text[end:])
    folder = tmp_path / "rules"
    other = "  - name: p99\n    metric: latency.p99\n    window: 30m\n"
    other += "    detector: {type: threshold, above: 100}\n"
    (folder / "fraud.yaml").write_text((folder / "fraud.yaml").read_text() + other)
    loaded = load_rules([folder])
    assert [r.name for r in loaded.rules] == ["p99"]
    assert len(loaded.issues) == 1 and "invalid contract" in str(loaded.issues[0])
