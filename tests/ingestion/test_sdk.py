"""The SDK: validation parks bad events without losing the batch; aggregation is exact."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ListSink:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass


@pytest.fixture
def ref():
    rng = np.random.default_rng(3)
    return build_reference(
        "m",
        pd.DataFrame({"x": rng.normal(0, 1, 2000), "c": rng.choice(["a", "b"], 2000)}),
    )


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"model": "bad model"}, "bad_model"),
        ({"model": "x'; DROP TABLE inferences; --"}, "bad_model"),
        ({"latency_ms": -3.0}, "bad_latency_ms"),
        ({"latency_ms": float("nan")}, "bad_latency_ms"),
        ({"score": "high"}, "bad_score"),
        ({"features": {"x": [1, 2]}}, "bad_feature_value"),
        ({"features": {"bad name": 1.0}}, "bad_feature_name"),
        ({"features": "x=1"}, "bad_features"),
        ({"version": None}, "bad_version"),
    ],
)
def test_malformed_event_is_parked_and_the_rest_goes_through(ref, override, reason):
    sink = ListSink()
    mon = Monitor(sink, {"m": ref}, clock=FakeClock(T))
    good = {
        "model": "m",
        "version": "v1",
        "features": {"x": 0.5, "c": "a"},
        "score": 0.1,
        "latency_ms": 5.0,
    }
    assert mon.log(**good)
    assert not mon.log(**{**good, **override})
    assert mon.log(**good)
    batch = mon.flush()
    assert len(batch.inferences) == 2
    assert mon.stats.accepted == 2 and mon.stats.parked[reason] == 1
    assert len(batch.parked) == 1 and batch.parked[0].reason.startswith(reason)


def test_aggregates_match_numpy(ref):
    rng = np.random.default_rng(5)
    n = 5000
    x = rng.normal(0, 1, n)
    x[::50] = np.nan  # special
    x[::77] = -1.0  # special sentinel
    c = rng.choice(np.array(["a", "b", "zz", "", None], dtype=object), n)
    ts = int(T.timestamp() * 1000) + np.arange(n) * 100  # 500 s: spans 9 one-minute buckets
    sink = ListSink()
    mon = Monitor(sink, {"m": ref}, clock=FakeClock(T))
    mon.log_batch(
        model="m",
        version="v1",
        features={"x": x, "c": c},
        score=rng.random(n),
        latency_ms=rng.random(n),
        ts_ms=ts,
    )
    b = mon.flush()
    stats = b.feature_stats.groupby("feature").agg(
        {
            "count": "sum",
            "nulls": "sum",
            "specials": "sum",
            "valid": "sum",
            "sum": "sum",
            "min": "min",
            "max": "max",
        }
    )
    special = np.isnan(x) | (x == -1.0)
    valid = x[~special]
    assert stats.loc["x", "count"] == n
    assert stats.loc["x", "specials"] == special.sum()
    assert stats.loc["x", "sum"] == pytest.approx(valid.sum())
    assert stats.loc["x", "min"] == pytest.approx(valid.min())
    assert stats.loc["c", "nulls"] == sum(v is None for v in c)
    assert stats.loc["c", "specials"] == sum(v == "" for v in c)
    bins = b.feature_bins[b.feature_bins.feature == "x"].groupby("bin")["count"].sum()
    expected = np.bincount(
        np.searchsorted(ref.features["x"].edges, valid, side="right"),
        minlength=ref.features["x"].n_bins,
    )
    assert bins.reindex(range(len(expected)), fill_value=0).tolist() == expected.tolist()
    cat = b.feature_bins[b.feature_bins.feature == "c"].groupby("label")["count"].sum()
    assert cat["__other__"] == sum(v == "zz" for v in c)
    assert b.feature_stats.ts.nunique() == 9


def test_partial_flushes_add_up_in_the_store(ref):
    """Rows are additive: flushing mid-bucket gives the same window answer as one flush."""
    rng = np.random.default_rng(9)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T))
    lat = rng.gamma(3, 4, 3000)
    xs = rng.normal(0, 1, 3000)
    for i in range(3000):
        mon.log(
            model="m",
            version="v1",
            features={"x": float(xs[i]), "c": "a"},
            score=0.5,
            latency_ms=float(lat[i]),
            ts=T.timestamp() + i * 0.01,
        )
        if i % 700 == 0:
            mon.flush()
    mon.flush()
    ms = int(T.timestamp() * 1000)
    scope = Scope("m", ms, ms + 60_000)
    summ = store.feature_summary(scope).set_index("feature")
    assert summ.loc["x", "count"] == 3000
    assert summ.loc["x", "mean"] == pytest.approx(xs.mean())
    assert summ.loc["x", "std"] == pytest.approx(xs.std(), rel=1e-6)
    lat_df = store.latency(scope)
    assert lat_df["p99"].iloc[0] == pytest.approx(np.quantile(lat, 0.99))
    assert lat_df["mean"].iloc[0] == pytest.approx(lat.mean())


def test_log_batch_parks_only_bad_rows(ref):
    sink = ListSink()
    mon = Monitor(sink, {"m": ref}, clock=FakeClock(T))
    lat = np.array([1.0, -1.0, np.inf, 2.0])
    got = mon.log_batch(
        model="m", version="v1", features={"x": np.zeros(4)}, score=np.zeros(4), latency_ms=lat
    )
    b = mon.flush()
    assert got == 2 and len(b.inferences) == 2 and len(b.parked) == 2
