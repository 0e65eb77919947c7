"""Round 22 fresh-eyes QA of ``modelhealth rules``: the subcommands agree on a bad config.

A folder with one good and one broken rule file is what an owner has after a half-finished
edit. The README promises the good file still runs and the command then exits 1; ``validate``,
``eval`` and ``run`` did, but ``backtest`` replayed the good file and exited 0, so a CI job
that backtests the rules folder passed with a file it never loaded.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.rules.cli import rules_main
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

GOOD = """model: fraud
rules:
  - name: p99-latency
    metric: latency.p99
    window: 30m
    group_by: [version]
    detector: {type: threshold, above: 100}
"""

BROKEN = "model: fraud\nrules:\n  - name: qps-low\n    metric: qps\n    window: [\n"


@pytest.fixture
def store_file(tmp_path: Path, fleet_refs) -> Path:
    """A DuckDB file with an hour of the demo's fraud traffic up to T0."""
    db = tmp_path / "h.duckdb"
    store = DuckDBStore(db)
    backfill(
        Monitor(DuckDBSink(store), fleet_refs, clock=FakeClock(T0)),
        {"fraud": fleet()["fraud"]},
        T0,
        days=1 / 24,
    )
    store.close()
    return db


@pytest.fixture
def half_broken(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(GOOD)
    (rules / "fraud-qps.yaml").write_text(BROKEN)
    return rules


def test_every_subcommand_runs_the_good_file_and_exits_1(
    tmp_path: Path, store_file: Path, half_broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(store_file)]
    state = ["--state", str(tmp_path / "state" / "alerts.json")]
    at = (T0 - timedelta(minutes=1)).isoformat()
    codes = {
        "validate": rules_main(["validate", str(half_broken)]),
        "eval": rules_main(["eval", *db, *state, "--at", at, str(half_broken)]),
        "run": rules_main(["run", *db, *state, "--max-ticks", "1", str(half_broken)]),
        "backtest": rules_main(
            ["backtest", *db, "--since", "30m", "--step", "10m", str(half_broken)]
        ),
    }
    out = capsys.readouterr()
    assert codes == {"validate": 1, "eval": 1, "run": 1, "backtest": 1}
    assert out.err.count(f"{half_broken / 'fraud-qps.yaml'}:6:1: YAML syntax error") == 4
    assert "backtest 1 rule(s)" in out.out  # the good file was replayed all the same


def test_backtest_of_good_rules_still_exits_0(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fraud.yaml").write_text(GOOD)
    rules = str(tmp_path / "fraud.yaml")
    code = rules_main(["backtest", "--db", str(store_file), "--since", "30m", rules])
    assert code == 0, capsys.readouterr()


def test_validate_of_a_folder_without_rule_files_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rules validate configs/`` on a folder holding no ``*.yaml``/``*.yml`` (the files
    named ``.yaml.txt``, or the wrong folder) said ``0 rule(s) in 0 file(s); 0 error(s)`` and
    exited 0, while ``eval`` of the same folder exits 1 ("no rule loaded")."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "fraud.yaml.txt").write_text(GOOD)
    assert rules_main(["validate", str(tmp_path / "configs")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'configs'}: no rule files (*.yaml, *.yml) found" in err
