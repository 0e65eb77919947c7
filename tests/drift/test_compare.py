"""drift_table / drift_series against a real in-memory DuckDB store fed by the SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.drift.compare import (
    Baseline,
    drift_series,
    drift_table,
    drift_table_from_histograms,
)
from modelhealth.drift.metrics import bin_positions, compute
from modelhealth.ingestion.reference import (
    ModelReference,
    build_feature_reference,
    build_reference,
    numeric_bin_index,
)
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)
DAY = 86_400_000
HOUR = 3_600_000


def _frame(rng: np.random.Generator, n: int, shift: float, p_us: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.normal(100 + shift, 10, n),
            "age": rng.normal(40, 5, n),
            "country": rng.choice(["US", "DE", "FR"], n, p=[p_us, (1 - p_us) / 2, (1 - p_us) / 2]),
        }
    )


@pytest.fixture()
def world() -> tuple[DuckDBStore, ModelReference, dict[str, pd.DataFrame]]:
    rng = np.random.default_rng(11)
    train = _frame(rng, 20_000, 0.0, 0.5)
    ref = build_reference("fraud", train)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"fraud": ref}, bucket=timedelta(hours=1), clock=FakeClock(T0))
    # day 0 (last week): like training; day 7: amount shifted and country mix changed, v1;
    # day 7 also carries a v2 that looks like training.
    days = {"d0": (0, "v1", 0.0, 0.5), "d7": (7, "v1", 8.0, 0.8), "d7v2": (7, "v2", 0.0, 0.5)}
    frames = {}
    for key, (day, version, shift, p_us) in days.items():
        df = _frame(rng, 6000, shift, p_us)
        frames[key] = df
        ts = to_epoch_ms(T0) + day * DAY + np.repeat(np.arange(3) * HOUR, 2000)
        mon.log_batch(
            model="fraud",
            version=version,
            features={c: df[c].to_numpy() for c in df.columns},
            score=np.full(len(df), 0.5),
            latency_ms=np.full(len(df), 5.0),
            ts_ms=ts,
        )
    mon.flush()
    return store, ref, frames


def _scope(day: int, version: str | None = "v1") -> Scope:
    start = to_epoch_ms(T0) + day * DAY
    return Scope("fraud", start, start + DAY, version=version)


def _hist(ref: ModelReference, name: str, values: pd.Series) -> np.ndarray:
    f = ref.features[name]
    if f.kind == "numeric":
        idx = numeric_bin_index(values.to_numpy(), np.asarray(f.edges))
    else:
        codes = pd.Categorical(values, categories=list(f.categories)).codes
        idx = np.where(codes < 0, len(f.categories), codes)
    return np.bincount(idx, minlength=f.n_bins).astype(float)


def test_profile_baseline_matches_direct_computation(world) -> None:
    store, ref, frames = world
    table = drift_table(
        store, _scope(7), Baseline.profile(ref), metrics=["psi", "js", "wasserstein", "ks"]
    )
    assert list(table.columns) == ["feature", "metric", "value", "threshold", "drifted", "rank"]
    cur = frames["d7"]
    for name in ("amount", "age", "country"):
        expected = compute("psi", ref.features[name].counts, _hist(ref, name, cur[name]))[0]
        row = table[(table.feature == name) & (table.metric == "psi")].iloc[0]
        assert row.value == pytest.approx(expected, rel=1e-12)
    w = table[(table.feature == "amount") & (table.metric == "wasserstein")].iloc[0]
    pos = bin_positions(ref.features["amount"].edges)
    assert w.value == pytest.approx(
        compute(
            "wasserstein",
            ref.features["amount"].counts,
            _hist(ref, "amount", cur.amount),
            positions=pos,
        )[0]
    )
    # numeric-only metrics skip the categorical feature
    assert set(table[table.metric == "ks"].feature) == {"age", "amount"}
    drifted = set(table[(table.metric == "psi") & table.drifted].feature)
    assert drifted == {"amount", "country"}
    psi = table[table.metric == "psi"].set_index("feature")
    assert psi.loc["age", "rank"] == 3 and not psi.loc["age", "drifted"]


def test_shifted_window_and_version_baselines(world) -> None:
    store, _, _ = world
    week = drift_table(store, _scope(7), Baseline.shifted(timedelta(days=7)), metrics=["js"])
    assert set(week[week.drifted].feature) == {"amount", "country"}
    other = drift_table(store, _scope(7, None), Baseline.other_version("v2"), metrics=["js"])
    # v1 + v2 of day 7 against v2 alone: the shifted v1 half shows up, age never moved
    o = other.set_index("feature")
    assert o.loc["age", "value"] < 0.05 and o.loc["amount", "drifted"]
    day0 = Baseline.window(to_epoch_ms(T0), to_epoch_ms(T0) + DAY)
    fixed = drift_table(store, _scope(7), day0, metrics=["psi", "linf"])
    assert set(fixed[fixed.drifted].feature) == {"amount", "country"}
    # a window keeps the scope's version: there was no v2 on day 0, so no verdict at all
    none = drift_table(store, _scope(7, "v2"), day0, metrics=["psi"])
    assert none.value.isna().all() and not none.drifted.any()


def test_features_filter_and_unknown_metric(world) -> None:
    store, ref, _ = world
    t = drift_table(store, _scope(7), Baseline.profile(ref), ["psi"], features=["age"])
    assert t.feature.tolist() == ["age"]
    with pytest.raises(KeyError, match="unknown drift metric"):
        drift_table(store, _scope(7), Baseline.profile(ref), ["psy"])


def test_empty_window_gives_nan_not_drift(world) -> None:
    store, ref, _ = world
    t = drift_table(store, _scope(3), Baseline.profile(ref), ["psi"])
    assert t.value.isna().all() and not t.drifted.any()


def test_drift_series_per_bucket(world) -> None:
    store, ref, frames = world
    s = drift_series(store, _scope(7), Baseline.profile(ref), "psi", HOUR)
    assert list(s.columns) == ["ts", "feature", "value", "drifted"]
    assert len(s) == 3 * 3
    first = s[(s.ts == _scope(7).start_ms) & (s.feature == "amount")].value.iloc[0]
    part = frames["d7"].amount.iloc[:2000]
    assert first == pytest.approx(
        compute("psi", ref.features["amount"].counts, _hist(ref, "amount", part))[0]
    )
    shifted = drift_series(store, _scope(7), Baseline.shifted(timedelta(days=7)), "js", HOUR)
    assert len(shifted) == 9
    assert shifted[shifted.feature == "age"].value.max() < 0.1
    assert shifted[shifted.feature == "amount"].drifted.all()


def test_baseline_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        Baseline.shifted(timedelta(0))
    with pytest.raises(ValueError, match="empty"):
        Baseline.window(5, 5)
    with pytest.raises(ValueError, match="invalid version"):
        Baseline.other_version("bad version!")


def test_numeric_labels_of_the_max_and_overflow_bins_are_recognised_without_a_reference():
    """Stored bins labelled by FeatureReference.bin_labels, compared with no profile at hand:
    the training max's own bin (``=2``) and the overflow (``>2``) keep the feature numeric."""
    labels = build_feature_reference("k", np.tile([0.0, 1.0, 2.0], 10)).bin_labels()
    assert labels[-2:] == ["=2", ">2"]
    base = pd.DataFrame({"feature": "k", "bin": [1, 2, 3], "label": labels[1:4], "count": 10})
    cur = pd.DataFrame({"feature": "k", "bin": [4], "label": [labels[4]], "count": [30]})
    table = drift_table_from_histograms(cur, base, None, metrics=["ks", "psi"])
    assert table.set_index("metric").loc["ks", "value"] == pytest.approx(1.0)


def test_features_without_bins_read_nan_not_zero() -> None:
    """Without a reference profile the SDK puts every categorical value in __other__: a
    switch from all 'DE' to all 'FR' read psi 0.0 (no drift), a falsely green rule."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ms = int(t0.timestamp() * 1000)
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), clock=FakeClock(t0))
    for day, country in ((0, "DE"), (1, "FR")):
        mon.log_batch(
            model="s",
            version="v1",
            ts_ms=np.full(500, ms + day * 86_400_000),
            features={"country": np.array([country] * 500), "amount": np.arange(500.0)},
            score=np.zeros(500),
            latency_ms=np.ones(500),
        )
    mon.close()
    cur = Scope("s", ms + 86_400_000, ms + 86_400_000 + 3_600_000)
    table = drift_table(store, cur, Baseline.shifted(timedelta(days=1)), metrics=["psi", "js"])
    assert table["value"].isna().all() and not table["drifted"].any()
    assert set(table["feature"]) == {"country"}
