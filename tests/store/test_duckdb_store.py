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


def test_hosts_lists_each_models_hosts_sorted_and_checks_the_name():
    store = _store_with(np.ones(4), np.full(4, "v1"))
    store.append(
        EventBatch(
            inferences=pd.DataFrame(
                {
                    "ts": [10, 11, 12],
                    "model": ["m", "m", "other"],
                    "version": "v1",
                    "host": ["b-2", "a-1", "z-9"],
                    "request_id": ["x", "y", "z"],
                    "score": 0.5,
                    "latency_ms": 1.0,
                    "is_error": np.int32(0),
                }
            )
        )
    )
    assert store.hosts("m") == ["a-1", "b-2", "h"]
    assert store.hosts("other") == ["z-9"]
    assert store.hosts("absent") == []
    with pytest.raises(InvalidName):
        store.hosts("m' OR '1'='1")


@pytest.mark.parametrize("step_ms", [None, 3_600_000])
@pytest.mark.parametrize("by_version", [False, True])
def test_fleet_queries_equal_the_per_model_queries(seeded_store, step_ms, by_version):
    """Each fleet_* answer, split by model, is exactly the per-model answer (rules rely on it)."""
    models = seeded_store.models()
    _lo, hi = seeded_store.time_range()
    start, end = hi - 6 * 3_600_000, hi + 1
    for version in (None, "v1"):
        calls = {
            "fleet_latency": lambda s: seeded_store.latency(s, step_ms, by_version),
            "fleet_feature_summary": lambda s: seeded_store.feature_summary(
                s, step_ms=step_ms, by_version=by_version
            ),
            "fleet_feature_histograms": lambda s: seeded_store.feature_histograms(
                s, step_ms=step_ms, by_version=by_version
            ),
        }
        if not by_version:
            calls["fleet_score"] = lambda s: seeded_store.score(s, step_ms)
        for name, single in calls.items():
            fleet = getattr(seeded_store, name)(
                [*models, "nobody"], start, end,
                step_ms=step_ms, by_version=by_version, version=version,
            )  # fmt: skip
            if version is None:
                assert set(fleet["model"]) >= set(models)
            for model in [*models, "nobody"]:
                want = single(Scope(model, start, end, version=version))
                got = fleet[fleet["model"] == model].drop(columns=["model"])
                pd.testing.assert_frame_equal(
                    got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
                )


def test_fleet_queries_validate_names_and_window(seeded_store):
    with pytest.raises(InvalidName):
        seeded_store.fleet_feature_histograms(["ok", "x'); DROP TABLE feature_bins; --"], 0, 10)
    with pytest.raises(ValueError, match="empty window"):
        seeded_store.fleet_latency(["fraud"], 10, 10)
    with pytest.raises(ValueError, match="version"):
        seeded_store.fleet_score(["fraud"], 0, 10, by_version=True)


def test_a_feature_that_changed_kind_keeps_its_numeric_mean_and_says_mixed():
    """v1 sent numbers, v2 strings; a flush of v3 held only nulls (stored categorical).

    ``any_value(kind)`` once picked one kind for the lot and divided the numbers' sum by the
    strings too (mean 2.25 for numbers averaging 4.5), and Pinot answered two rows."""
    from modelhealth.ingestion import Monitor
    from modelhealth.store.duckdb import DuckDBSink

    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store))
    for i in range(100):
        for version, value in (("v1", float(i % 10)), ("v2", f"c{i % 7}")):
            mon.log(model="m", version=version, features={"x": value}, score=0.5,
                    latency_ms=1.0, ts=i)  # fmt: skip
    mon.flush()
    for i in range(5):
        mon.log(model="m", version="v3", features={"x": None}, score=0.5, latency_ms=1.0,
                ts=i)  # fmt: skip
    mon.flush()
    scope = Scope("m", 0, 200_000)
    whole = store.feature_summary(scope)
    assert len(whole) == 1
    row = whole.iloc[0]
    assert (row["kind"], row["count"], row["nulls"], row["valid"]) == ("mixed", 205, 5, 200)
    assert row["mean"] == pytest.approx(4.5) and (row["min"], row["max"]) == (0.0, 9.0)
    per = store.feature_summary(scope, by_version=True).set_index("version")
    assert per["kind"].to_dict() == {"v1": "numeric", "v2": "categorical", "v3": "categorical"}
    assert np.isnan(per.loc["v2", "mean"]) and per.loc["v1", "mean"] == pytest.approx(4.5)
    only_null_and_numbers = store.feature_summary(Scope("m", 0, 200_000, version="v1"))
    assert only_null_and_numbers.iloc[0]["kind"] == "numeric"


def test_a_flush_that_starts_with_nulls_still_stores_a_numeric_feature():
    from modelhealth.ingestion import Monitor
    from modelhealth.store.duckdb import DuckDBSink

    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store))
    for i in range(40):
        mon.log(model="m", version="v1", features={"z": None if i < 20 else float(i)},
                score=0.5, latency_ms=1.0, ts=i)  # fmt: skip
    mon.flush()
    kinds = store._query("SELECT DISTINCT kind FROM feature_stats")["kind"].tolist()
    assert kinds == ["numeric"]


def test_booleans_are_numbers_whether_or_not_a_flush_holds_a_null():
    """A flush of pure bools was stored numeric, one with a None categorical: one version's
    feature then read 'mixed', its mean over half its values."""
    from modelhealth.ingestion import Monitor
    from modelhealth.store.duckdb import DuckDBSink

    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store))
    for flush in range(2):
        for i in range(40):
            value = None if flush == 1 and i == 0 else bool(i % 4 == 0)
            mon.log(model="m", version="v1", features={"is_new": value}, score=0.5,
                    latency_ms=1.0, ts=flush * 100 + i)  # fmt: skip
        mon.flush()
    kinds = store._query("SELECT DISTINCT kind FROM feature_stats")["kind"].tolist()
    assert kinds == ["numeric"]
    row = store.feature_summary(Scope("m", 0, 200_000)).iloc[0]
    assert (row["kind"], row["valid"], row["nulls"]) == ("numeric", 79, 1)
    assert row["mean"] == pytest.approx(19 / 79)  # 10 + 9 True of 79 values


def test_labels_far_older_than_the_window_do_not_join():
    """outcomes() reads labels from a day before its window on (Pinot read every label the
    model ever had, on every tick): the same answer on both stores, bounded work on Pinot."""
    from modelhealth.store.backend import LABEL_SKEW_MS

    store = DuckDBStore()
    day = 86_400_000
    store.append(
        EventBatch(
            inferences=pd.DataFrame(
                {
                    "ts": [10 * day, 10 * day + 1],
                    "model": "m",
                    "version": "v1",
                    "host": "h",
                    "request_id": ["a", "b"],
                    "score": [0.9, 0.1],
                    "latency_ms": 1.0,
                    "is_error": 0,
                }
            ),
            outcomes=pd.DataFrame(
                {
                    "ts": [10 * day + 5, 10 * day - LABEL_SKEW_MS - 1],
                    "model": "m",
                    "request_id": ["a", "b"],
                    "label": [1.0, 0.0],
                }
            ),
        )
    )
    joined = store.outcomes(Scope("m", 10 * day, 11 * day))
    assert joined["request_id"].tolist() == ["a"]
