"""``anomaly export`` leaves out a new model's partial first bucket, as the rules do.

A model that goes live four minutes into a five-minute bucket holds two requests there where
every later bucket holds ten. The rules engine leaves that bucket out of a ``count``/``qps``
history (``series.since_first_data``); the export wrote it, so a detector trained on the
export learned from a dip the scheduler never hands it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.anomaly.export import export_series
from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.frames import FrameSource
from modelhealth.rules.series import instances, plan_rule
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
M = timedelta(minutes=1)
STEP_MS = 300_000


def _store(spans: list[tuple[str, timedelta, timedelta]]) -> DuckDBStore:
    """One request of model ``m`` every 30 s in each ``(version, start, end)`` after T."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T))
    for version, start, end in spans:
        ts = np.arange(to_epoch_ms(T + start), to_epoch_ms(T + end), 30_000)
        mon.log_batch(
            model="m",
            version=version,
            features={},
            score=np.full(len(ts), 0.5),
            latency_ms=np.full(len(ts), 20.0),
            ts_ms=ts,
        )
    mon.flush()
    return store


def _read(path: Path) -> pd.Series:
    frame = pd.read_csv(path)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    return pd.Series(frame["value"].to_numpy(), index=stamps)


@pytest.mark.parametrize("metric", ["count", "qps"])
def test_the_partial_first_bucket_of_each_version_is_not_exported(
    tmp_path: Path, metric: str
) -> None:
    # v1 goes live at 00:04, v2 at 06:02: both inside a five-minute bucket
    store = _store([("v1", 4 * M, 12 * 60 * M), ("v2", 6 * 60 * M + 2 * M, 12 * 60 * M)])
    start, end = to_epoch_ms(T - 60 * M), to_epoch_ms(T + 12 * 60 * M)
    export_series(store, [metric], start, end, STEP_MS, tmp_path, min_points=1)
    v1 = _read(tmp_path / "data" / "m" / f"{metric}__v1.csv")
    v2 = _read(tmp_path / "data" / "m" / f"{metric}__v2.csv")
    assert v1.index[0] == T + 5 * M, v1.head(2)
    assert v2.index[0] == T + 6 * 60 * M + 5 * M, v2.head(2)
    full = 10.0 if metric == "count" else 10 / 300
    assert np.allclose(v1.to_numpy(), full) and np.allclose(v2.to_numpy(), full)


def test_an_export_that_starts_after_the_first_data_keeps_its_first_bucket(
    tmp_path: Path,
) -> None:
    store = _store([("v1", 4 * M, 12 * 60 * M)])
    start, end = to_epoch_ms(T + 60 * M), to_epoch_ms(T + 12 * 60 * M)
    export_series(store, ["count"], start, end, STEP_MS, tmp_path, min_points=1)
    v1 = _read(tmp_path / "data" / "m" / "count__v1.csv")
    assert v1.index[0] == T + 60 * M and len(v1) == 132


def test_the_export_is_the_history_a_per_version_count_rule_judges(tmp_path: Path) -> None:
    """The zeros after the first data stay (the version was live and silent); none before
    it come back. v2 sends a minute inside a bucket, then nothing for two hours."""
    store = _store(
        [
            ("v1", 4 * M, 12 * 60 * M),
            ("v2", 6 * 60 * M + 2 * M, 6 * 60 * M + 3 * M),
            ("v2", 8 * 60 * M, 12 * 60 * M),
        ]
    )
    end = T + 12 * 60 * M
    start = to_epoch_ms(T - 60 * M)
    export_series(store, ["count"], start, to_epoch_ms(end), STEP_MS, tmp_path, min_points=1)
    (rule,) = load_rules_text(
        "model: m\nrules:\n  - name: r\n    metric: count\n    window: 5m\n"
        "    group_by: [version]\n    detector: {type: zscore, z: 3, lookback: 1d}\n",
        "m.yaml",
    ).rules
    plan = plan_rule(rule, timedelta(days=1), to_epoch_ms(end), None)
    found = instances(rule, plan, FrameSource(store), None)
    judged = {i.labels["version"]: i.series for i in found}
    for version in ("v1", "v2"):
        exported = _read(tmp_path / "data" / "m" / f"count__{version}.csv")
        series = judged[version]
        # the engine's series ends with the window it judges, [end - 5m, end): exported too
        stamps = pd.to_datetime(series.timestamps, unit="s", utc=True)
        assert exported.index.tolist() == stamps.tolist(), version
        assert np.allclose(exported.to_numpy(), series.values), version
    v2 = _read(tmp_path / "data" / "m" / "count__v2.csv")
    assert v2.index[0] == T + 6 * 60 * M + 5 * M and v2.iloc[0] == 0.0
