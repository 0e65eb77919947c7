"""Exporting again into a folder: each metric once, and files an earlier export left named."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0


@pytest.fixture(scope="module")
def day_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of one model, enough buckets for every latency series to be exported."""
    db = tmp_path_factory.mktemp("export") / "fleet.duckdb"
    store = DuckDBStore(str(db))
    monitor = Monitor(DuckDBSink(store), {}, clock=FakeClock(T0))
    backfill(monitor, {"search": fleet()["search"]}, T0, days=1.0)
    monitor.flush()
    store.close()
    return db


def test_a_metric_named_twice_is_exported_once(day_db: Path, tmp_path: Path, capsys) -> None:
    argv = ["export", "--db", str(day_db), "--since", "1d", "--out", str(tmp_path / "out")]
    assert anomaly_main([*argv, "--metric", "latency.p99", "--metric", "latency.p99"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 series" in out and '{"search": 1}' in out


def test_files_of_an_earlier_export_are_named(day_db: Path, tmp_path: Path, capsys) -> None:
    base = ["export", "--db", str(day_db), "--since", "1d", "--out", str(tmp_path / "out")]
    assert anomaly_main([*base, "--metric", "latency.p99", "--metric", "latency.mean"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert anomaly_main([*base, "--metric", "latency.p99"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 series" in out
    assert "also holds 1 CSV file(s) this export did not write" in out
    assert "search/latency.mean__v1.csv" in out and "anomaly train reads every file" in out
