"""Stored bins are compared with a baseline's by label, never by position alone (QA finding 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock
from modelhealth.drift.alignment import misaligned
from modelhealth.drift.compare import (
    Baseline,
    drift_series,
    drift_table,
    drift_table_from_histograms,
)
from modelhealth.ingestion.reference import ModelReference, build_reference
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)
MS = int(T0.timestamp() * 1000)
HOUR = 3_600_000


def _training(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cat": rng.choice(["a", "b", "c"], 1000, p=[0.985, 0.01, 0.005]),
            "x": rng.normal(size=1000),
        }
    )


def _store(profiles: dict[str, ModelReference], batches: list[dict[str, np.ndarray]]):
    """A real DuckDB store fed by the SDK (with ``profiles``), one batch per hour."""
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), profiles, clock=FakeClock(T0))
    for hour, features in enumerate(batches):
        n = len(next(iter(features.values())))
        mon.log_batch(
            model="m",
            version="v",
            features=features,
            score=np.full(n, 0.5),
            latency_ms=np.ones(n),
            ts_ms=MS + hour * HOUR + np.arange(n),
        )
    mon.close()
    return store


def test_sdk_without_profile_is_not_judged_against_a_reference() -> None:
    """Every value unseen ('zz'), stored as __other__ in bin 0 by an SDK without a profile:
    bin 0 is category 'a' (98.5%) in the reference, so PSI read 0.065 (no drift)."""
    rng = np.random.default_rng(0)
    ref = build_reference("m", _training(rng))
    store = _store({}, [{"cat": np.array(["zz"] * 1000), "x": rng.normal(size=1000)}])
    table = drift_table(store, Scope("m", MS, MS + HOUR), Baseline.profile(ref), ["psi", "js"])
    cat = table[table["feature"] == "cat"]
    assert cat["value"].isna().all() and not cat["drifted"].any()
    assert "__other__" in table.attrs["not_judged"]["cat"]


def test_sdk_with_the_same_profile_is_still_judged() -> None:
    """The control: the same drift logged with the reference profile reads a large PSI."""
    rng = np.random.default_rng(0)
    ref = build_reference("m", _training(rng))
    store = _store({"m": ref}, [{"cat": np.array(["zz"] * 1000), "x": rng.normal(size=1000)}])
    table = drift_table(store, Scope("m", MS, MS + HOUR), Baseline.profile(ref), ["psi"])
    psi = table.set_index("feature")["value"]
    assert psi["cat"] > 10 and bool(table.set_index("feature").loc["cat", "drifted"])
    assert psi["x"] < 0.1 and table.attrs["not_judged"] == {}


def test_another_profile_with_other_edges_and_category_order_is_not_judged() -> None:
    """The SDK's profile orders categories b, a (and has other numeric edges) while the
    reference orders them a, b: identical data compared bin by bin read as drift, and
    swapped data as none."""
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"cat": np.r_[["a"] * 700, ["b"] * 300], "x": rng.normal(size=1000)})
    ref = build_reference("m", train)
    sdk_train = pd.DataFrame({"cat": np.r_[["b"] * 700, ["a"] * 300], "x": rng.normal(5, 1, 1000)})
    sdk_ref = build_reference("m", sdk_train)
    current = {"cat": np.r_[["b"] * 700, ["a"] * 300], "x": rng.normal(size=1000)}
    store = _store({"m": sdk_ref}, [current])
    table = drift_table(store, Scope("m", MS, MS + HOUR), Baseline.profile(ref), ["psi"])
    assert table["value"].isna().all()
    assert set(table.attrs["not_judged"]) == {"cat", "x"}
    assert "stored bin 0 is 'b'" in table.attrs["not_judged"]["cat"]


def test_two_windows_binned_with_different_profiles_are_not_judged() -> None:
    """A shifted baseline with no reference at hand: last hour binned a, b; this hour b, a."""
    ab = build_reference("m", pd.DataFrame({"cat": ["a"] * 7 + ["b"] * 3}))
    ba = build_reference("m", pd.DataFrame({"cat": ["b"] * 7 + ["a"] * 3}))
    data = {"cat": np.array(["a"] * 500 + ["b"] * 500)}
    before = _store({"m": ab}, [data]).feature_histograms(Scope("m", MS, MS + HOUR))
    now = _store({"m": ba}, [data]).feature_histograms(Scope("m", MS, MS + HOUR))
    table = drift_table_from_histograms(now, before, None, ["psi"])
    assert np.isnan(table["value"].iloc[0]) and "differ" in table.attrs["not_judged"]["cat"]
    same = drift_table_from_histograms(now, now, None, ["psi"])
    assert same["value"].iloc[0] == 0.0 and same.attrs["not_judged"] == {}


def test_rows_without_labels_are_compared_by_position() -> None:
    """Histograms stored before labels were kept (or built by hand) are not refused."""
    rows = pd.DataFrame({"feature": "f", "bin": [0, 1], "count": [5, 5]})
    assert misaligned([rows, rows.assign(label=None)]) == {}


def test_drift_series_marks_the_misaligned_feature_in_every_bucket() -> None:
    rng = np.random.default_rng(0)
    ref = build_reference("m", _training(rng))
    batch = {"cat": np.array(["zz"] * 100), "x": rng.normal(size=100)}
    store = _store({}, [batch, batch])
    series = drift_series(store, Scope("m", MS, MS + 2 * HOUR), Baseline.profile(ref), "psi", HOUR)
    assert series[series["feature"] == "cat"]["value"].isna().all()
    assert len(series[series["feature"] == "cat"]) == 2
