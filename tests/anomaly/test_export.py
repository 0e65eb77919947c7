"""``anomaly export``: the store's own series in the NAB layout, ready for ``anomaly train``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.anomaly.dataset import load_dataset
from modelhealth.anomaly.export import check_metric, export_series, instance_series
from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

STEP_MS = 300_000


def test_exported_p99_equals_the_store_buckets_a_rule_sees(seeded_store, tmp_path: Path):
    end, start = to_epoch_ms(T0), to_epoch_ms(T0 - timedelta(hours=12))
    written = export_series(seeded_store, ["latency.p99"], start, end, STEP_MS, tmp_path)
    names = {(w.model, w.version) for w in written}
    assert {("fraud", "v2"), ("fraud", "v3"), ("search", "v1")} <= names
    data = {s.name: s for s in load_dataset(tmp_path)}  # a valid NAB layout, no labels
    got = data["fraud/latency.p99__v3.csv"]
    want = seeded_store.latency(Scope("fraud", start, end, "v3"), step_ms=STEP_MS)
    assert len(got.values) == len(want) == 144
    assert np.array_equal(got.timestamps * 1000, want["ts"].to_numpy())
    assert np.allclose(got.values, want["p99"].to_numpy())
    assert all(not s.windows for s in data.values())
    assert (tmp_path / "labels" / "labels.json").read_text().strip() == "{}"


def test_feature_metrics_export_one_series_per_feature_and_version(seeded_store, tmp_path):
    end = to_epoch_ms(T0)
    written = export_series(
        seeded_store, ["feature.null_rate"], end - 86_400_000, end, STEP_MS, tmp_path, ["fraud"]
    )
    assert written and all(w.feature for w in written)
    assert any(w.feature == "merchant_category" and w.version == "v3" for w in written)
    path = tmp_path / "data" / "fraud" / "feature.null_rate__merchant_category__v3.csv"
    assert path.exists()


def test_instances_split_by_version_and_feature_and_keep_only_buckets_with_data():
    values = pd.DataFrame(
        {
            "ts": [0, STEP_MS, 4 * STEP_MS, 0, STEP_MS],
            "version": ["v1", "v1", "v1", "v2", "v2"],
            "value": [1.0, 2.0, 5.0, 7.0, np.nan],
        }
    )
    got = {lab["version"]: s for lab, s in instance_series(values)}
    assert got["v1"].index.tolist() == [0, STEP_MS, 4 * STEP_MS]  # as the engine hands them
    assert got["v1"].tolist() == [1.0, 2.0, 5.0]
    assert got["v2"].tolist() == [7.0]
    (only,) = instance_series(values.drop(columns="version"))
    assert only[0] == {"version": "all"}


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("latency.p98", "unknown metric 'latency.p98'"),
        ("feature.drift.psi", "need a reference or contract"),
        ("contract.status", "need a reference or contract"),
    ],
)
def test_metrics_that_are_not_series_are_refused_with_the_reason(metric, message):
    with pytest.raises(ValueError, match=message):
        check_metric(metric)


def test_cli_exports_a_duckdb_file_and_trains_on_it(tmp_path: Path, capsys) -> None:
    db = tmp_path / "fleet.duckdb"
    store = DuckDBStore(str(db))
    monitor = Monitor(DuckDBSink(store), {}, clock=FakeClock(T0))
    backfill(monitor, {"search": fleet()["search"]}, T0, days=1.0)
    monitor.flush()
    store.close()
    out = tmp_path / "export"
    argv = ["export", "--db", str(db), "--metric", "latency.p99", "--metric", "latency.mean"]
    assert anomaly_main([*argv, "--since", "1d", "--out", str(out)]) == 0
    assert "wrote 2 series" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "data" / "search").iterdir()) == [
        "latency.mean__v1.csv",
        "latency.p99__v1.csv",
    ]
    model = tmp_path / "model"
    assert anomaly_main(["train", str(out), "--all-files", "--out", str(model)]) == 0
    assert (model / "meta.json").exists()
    assert anomaly_main([*argv[:3], "--metric", "feature.drift.psi", "--out", str(out)]) == 2
    assert "need a reference or contract" in capsys.readouterr().err


def test_cli_names_a_missing_database_and_itself(tmp_path: Path) -> None:
    argv = ["export", "--db", str(tmp_path / "none.duckdb"), "--metric", "latency.p99"]
    with pytest.raises(SystemExit, match="anomaly export: no DuckDB database at"):
        anomaly_main([*argv, "--out", str(tmp_path / "out")])


def test_exported_counts_read_silent_buckets_as_zero(seeded_store, tmp_path: Path):
    """The seeded traffic ends at T0; an export running an hour past it has the scheduler's
    view of a ``count`` series: 12 buckets of 0 at the end, not a series that just stops."""
    end, start = to_epoch_ms(T0 + timedelta(hours=1)), to_epoch_ms(T0 - timedelta(hours=3))
    export_series(
        seeded_store, ["count", "latency.p99"], start, end, STEP_MS, tmp_path, ["fraud"], 12
    )
    data = {s.name: s for s in load_dataset(tmp_path)}
    count, p99 = data["fraud/count__v3.csv"], data["fraud/latency.p99__v3.csv"]
    assert len(count.values) == 48 and len(p99.values) == 36
    assert (count.values[-12:] == 0).all() and (count.values[:36] > 0).all()


def test_cli_train_reports_a_dataset_error_in_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    argv = ["train", str(tmp_path / "empty"), "--out", str(tmp_path / "model")]
    assert anomaly_main(argv) == 1
    err = capsys.readouterr().err
    assert "anomaly train:" in err and "no CSV files found" in err
    assert "Traceback" not in err


@pytest.fixture
def short_db(tmp_path: Path) -> Path:
    """2.4 hours of one model: 28 buckets of 5 minutes, fewer than MIN_POINTS."""
    db = tmp_path / "short.duckdb"
    store = DuckDBStore(str(db))
    monitor = Monitor(DuckDBSink(store), {}, clock=FakeClock(T0))
    backfill(monitor, {"search": fleet()["search"]}, T0, days=0.1)
    monitor.flush()
    store.close()
    return db


def test_cli_export_says_why_nothing_was_written(short_db: Path, tmp_path: Path, capsys) -> None:
    argv = ["export", "--db", str(short_db), "--metric", "latency.p99"]
    assert anomaly_main([*argv, "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "next:" not in captured.out + captured.err
    assert "needs at least 100 buckets with data, 8h20m of history at --step 5m" in captured.err
    assert re.search(r"the exported range holds [23]h\d+m \(\d\d buckets\)", captured.err)


def test_cli_export_refuses_unknown_models_and_bad_paths(
    short_db: Path, tmp_path: Path, capsys
) -> None:
    argv = ["export", "--db", str(short_db), "--metric", "latency.p99"]
    assert anomaly_main([*argv, "--model", "serch", "--out", str(tmp_path / "out")]) == 2
    assert "no such model 'serch' in the store; known: search" in capsys.readouterr().err
    (tmp_path / "afile").write_text("")
    assert anomaly_main([*argv, "--out", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err
    (tmp_path / "not.duckdb").write_text("hello\n")
    bad_db = ["export", "--db", str(tmp_path / "not.duckdb"), "--metric", "latency.p99"]
    with pytest.raises(SystemExit, match=r"anomaly export: cannot open .*not\.duckdb"):
        anomaly_main([*bad_db, "--out", str(tmp_path / "out")])
