"""The DuckDB backend answers the store interface exactly and never lets names reach SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelhealth.errors import InvalidName
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBStore


def _store_with(lat: np.ndarray, versions: np.ndarray) -> DuckDBStore:
    store = DuckDBStore()
    n = lat.size
    store.append(
        EventBatch(
            inferences=pd.DataFrame(
                {
                    "ts": np.arange(n, dtype=np.int64) * 1000,
                    "model": "m",
                    "version": versions,
                    "host": "h",
                    "request_id": [f"r{i}" for i in range(n)],
                    "score": np.linspace(0, 1, n),
                    "latency_ms": lat,
                    "is_error": (np.arange(n) % 10 == 0).astype(np.int32),
                }
            )
        )
    )
    return store


def test_latency_percentiles_by_version_and_bucket():
    rng = np.random.default_rng(1)
    lat = rng.gamma(2, 10, 1200)
    versions = np.where(np.arange(1200) % 3 == 0, "v2", "v1")
    store = _store_with(lat, versions)
    df = store.latency(Scope("m", 0, 1_200_000), by_version=True).set_index("version")
    assert df.loc["v2", "p99"] == pytest.approx(np.quantile(lat[versions == "v2"], 0.99))
    assert df.loc["v1", "count"] == 800
    per_min = store.latency(Scope("m", 0, 1_200_000), step_ms=60_000)
    assert per_min["ts"].tolist() == [i * 60_000 for i in range(20)]
    assert per_min["count"].tolist() == [60] * 20
    assert per_min["errors"].sum() == 120


def test_score_histogram_uses_reference_bin_convention():
    store = _store_with(np.ones(101), np.full(101, "v1"))
    h = store.score_histogram(Scope("m", 0, 10**9), [0.25, 0.5]).set_index("bin")["count"]
    scores = np.linspace(0, 1, 101)
    assert h[0] == (scores < 0.25).sum() and h[2] == (scores >= 0.5).sum()


def test_hostile_names_are_rejected_before_sql():
    store = _store_with(np.ones(3), np.full(3, "v1"))
    with pytest.raises(InvalidName):
        Scope("m' OR '1'='1", 0, 10)
    with pytest.raises(InvalidName):
        store.feature_summary(Scope("m", 0, 10), features=["x; DROP TABLE inferences"])
    assert store.models() == ["m"]


def test_snapshot_is_readable_by_another_connection(tmp_path):
    store = _store_with(np.ones(5), np.full(5, "v1"))
    snap = store.snapshot(tmp_path / "snap.duckdb")
    reader = DuckDBStore(snap, read_only=True)
    assert reader.latency(Scope("m", 0, 10**9))["count"].iloc[0] == 5
