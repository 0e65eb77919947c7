"""QA round 22, a model server's view of the SDK: what it logs reaches the real DuckDB store
as the README says, the figures the store answers are numpy's, and nothing is lost silently.

Findings: a ``pd.NA`` feature value (what ``df.iloc[i].to_dict()`` of a nullable column
gives) parked the whole event in ``log()``, though the README counts pd.NA as a null;
``log_batch(ts_ms=...)`` in epoch seconds stored 1970 rows where ``log(ts=...)`` of the very
same numbers stored today; and a process that exited without ``close()`` lost what was
buffered since the last flush, without a word.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
HOUR_MS = 3_600_000


def _monitor(store: DuckDBStore, **kwargs: object) -> Monitor:
    return Monitor(DuckDBSink(store), clock=FakeClock(T), **kwargs)  # type: ignore[arg-type]


def test_pd_na_feature_in_log_is_a_null_not_a_parked_event() -> None:
    """A row of a nullable (Int64/boolean/string) frame holds pd.NA: the event is kept and
    the feature counted as null, as for None and as ``log_batch`` counts it."""
    store = DuckDBStore()
    mon = _monitor(store)
    frame = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    frame["s"] = pd.array(["DE", None, "FR"], dtype="string")
    for i, row in enumerate(frame.to_dict("records")):
        assert mon.log(model="m", version="v1", features=row, score=0.5, latency_ms=1.0, ts=T)
        assert mon.log(
            model="m", version="v2", features={"n": pd.NA}, score=0.5, latency_ms=1.0, ts=T
        ), i
    mon.close()
    assert mon.stats.parked_total == 0
    summary = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS, version="v1"))
    got = summary.set_index("feature")[["kind", "count", "nulls", "valid", "mean"]]
    assert got.loc["n"].tolist() == ["numeric", 3, 1, 2, 2.0]
    assert got.loc["s"].tolist()[:4] == ["categorical", 3, 1, 2]
    only_na = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS, version="v2"))
    assert only_na[["count", "nulls"]].values.tolist() == [[3, 3]]


def test_log_batch_takes_epoch_seconds_as_log_does() -> None:
    """The same epoch-seconds numbers through ``log(ts=)`` and ``log_batch(ts_ms=)`` land at
    the same time; they used to be 2026 and 1970-01-21."""
    store = DuckDBStore()
    mon = _monitor(store)
    secs = T_MS // 1000 + np.arange(3)
    for s in secs:
        mon.log(model="m", version="v1", features={"x": 1.0}, score=0.5, latency_ms=1.0, ts=s)
    n = mon.log_batch(
        model="m",
        version="v2",
        features={"x": np.ones(3)},
        score=np.full(3, 0.5),
        latency_ms=np.ones(3),
        ts_ms=secs,
    )
    mon.close()
    assert n == 3
    lat = store.latency(Scope("m", T_MS, T_MS + HOUR_MS), by_version=True)
    assert lat[["version", "count"]].values.tolist() == [["v1", 3], ["v2", 3]]
    assert store.time_range("m") == (T_MS, T_MS + 2000)


def test_figures_the_store_answers_are_numpys() -> None:
    """Latency mean/percentiles per minute, counts, score, feature null rate, mean, std and
    histogram, half of the events logged one by one and half as a batch."""
    rng = np.random.default_rng(22)
    train = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    ref = build_reference("m", train)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T))
    n, half = 61, 30
    lat = rng.exponential(10, n)
    score = rng.random(n)
    ts = T_MS + np.sort(rng.integers(0, 3 * 60_000, n))
    x = rng.normal(size=n).astype(object)
    x[::6] = None
    x[4] = float("nan")
    c = rng.choice(["a", "b", "z"], n).astype(object)
    for i in range(half):
        mon.log(
            model="m",
            version="v1",
            features={"x": x[i], "c": c[i]},
            score=float(score[i]),
            latency_ms=float(lat[i]),
            ts=int(ts[i]),
        )
    mon.log_batch(
        model="m",
        version="v1",
        features={"x": x[half:], "c": c[half:]},
        score=score[half:],
        latency_ms=lat[half:],
        ts_ms=ts[half:],
    )
    mon.close()
    scope = Scope("m", T_MS, T_MS + HOUR_MS)
    per_minute = store.latency(scope, step_ms=60_000)
    minute = (ts // 60_000) * 60_000
    assert per_minute["ts"].tolist() == sorted(set(minute.tolist()))
    for _, row in per_minute.iterrows():
        sel = lat[minute == row["ts"]]
        assert row["count"] == sel.size
        expected = [sel.mean(), *np.quantile(sel, [0.5, 0.75, 0.9, 0.99])]
        np.testing.assert_allclose(row[["mean", "p50", "p75", "p90", "p99"]], expected)
    s = store.score(scope).iloc[0]
    np.testing.assert_allclose(
        s[["mean", "std", "p50", "p90", "min", "max"]].astype(float),
        [score.mean(), score.std(), *np.quantile(score, [0.5, 0.9]), score.min(), score.max()],
    )
    summary = store.feature_summary(scope).set_index("feature")
    xv = np.array([v for v in x if v is not None and v == v], dtype=float)
    assert summary.loc["x", ["count", "nulls", "specials", "valid"]].tolist() == [
        n,
        sum(v is None for v in x),
        1,
        xv.size,
    ]
    np.testing.assert_allclose(
        summary.loc["x", ["mean", "std", "min", "max"]].astype(float),
        [xv.mean(), xv.std(), xv.min(), xv.max()],
    )
    hist = store.feature_histograms(scope)
    edges = np.asarray(ref.features["x"].edges)
    want = np.bincount(np.searchsorted(edges, xv, side="right"), minlength=edges.size + 1)
    got = hist[hist["feature"] == "x"].set_index("bin")["count"]
    assert [int(got.get(i, 0)) for i in range(edges.size + 1)] == want.tolist()
    cats = hist[hist["feature"] == "c"].set_index("label")["count"].to_dict()
    assert cats == {
        k: int(v) for k, v in pd.Series(c).replace("z", "__other__").value_counts().items()
    }


def test_exit_without_close_still_stores_what_was_logged(tmp_path: Path) -> None:
    """A model server that exits without ``close()`` (a forgotten shutdown hook) lost every
    event since the last flush; the SDK now closes open monitors at interpreter exit."""
    db = tmp_path / "h.duckdb"
    script = (
        "from modelhealth.ingestion import Monitor\n"
        "from modelhealth.store.duckdb import DuckDBSink, DuckDBStore\n"
        f"mon = Monitor(DuckDBSink(DuckDBStore({str(db)!r})))\n"
        "for i in range(10):\n"
        "    mon.log(model='m', version='v1', features={'a': 1.0}, score=0.5, latency_ms=1.0)\n"
        "bg = Monitor(DuckDBSink(DuckDBStore(':memory:')), background=True)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    store = DuckDBStore(db, read_only=True)
    try:
        assert store.models() == ["m"]
        assert int(store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0]) == 10
    finally:
        store.close()


def test_a_closed_monitor_is_not_kept_alive_for_exit() -> None:
    """The exit hook holds monitors weakly: one dropped by its owner is collected."""
    import gc
    import weakref

    mon = Monitor(DuckDBSink(DuckDBStore()))
    ref = weakref.ref(mon)
    del mon
    gc.collect()
    assert ref() is None


def test_string_feature_whose_first_value_is_nan_stays_categorical() -> None:
    """pandas writes a missing string of an object column as NaN: a flush (or a batch) whose
    first value was that NaN stored the feature as numeric, every string a special value
    (valid 0), where the same rows in another order were categorical with one null."""
    store = DuckDBStore()
    mon = _monitor(store)
    frame = pd.DataFrame({"country": [np.nan, "DE", "FR", "DE"]})
    for row in frame.to_dict("records"):
        mon.log(model="m", version="v1", features=row, score=0.5, latency_ms=1.0, ts=T)
    mon.log_batch(
        model="m",
        version="v2",
        features={"country": frame["country"]},
        score=np.full(4, 0.5),
        latency_ms=np.ones(4),
        ts_ms=np.full(4, T_MS),
    )
    for row in frame.iloc[::-1].to_dict("records"):
        mon.log(model="m", version="v3", features=row, score=0.5, latency_ms=1.0, ts=T)
    mon.close()
    summary = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS), by_version=True)
    got = summary[["version", "kind", "count", "nulls", "specials", "valid"]].values.tolist()
    assert got == [[v, "categorical", 4, 1, 0, 3] for v in ("v1", "v2", "v3")]


def test_object_column_of_only_missing_floats_stays_numeric() -> None:
    """The other side of the fix above: NaN and None alone still read as a numeric feature
    with specials, as a float column of NaN does."""
    store = DuckDBStore()
    mon = _monitor(store)
    mon.log_batch(
        model="m",
        version="v1",
        features={"x": np.array([None, np.nan, np.nan], dtype=object)},
        score=np.full(3, 0.5),
        latency_ms=np.ones(3),
        ts_ms=np.full(3, T_MS),
    )
    mon.close()
    summary = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS))
    got = summary[["kind", "count", "nulls", "specials", "valid"]].values.tolist()
    assert got == [["numeric", 3, 1, 2, 0]]


def test_a_bad_ts_says_every_form_a_ts_may_take() -> None:
    """``ts="2024-01-01"`` and ``np.datetime64`` said "ts must be a number", though an aware
    datetime is as good; a naive datetime did not echo the value. (A datetime64 is
    a time now, read as UTC; its NaT is not.)"""
    store = DuckDBStore()
    mon = _monitor(store)
    for ts in ("2024-01-01", np.datetime64("NaT"), -5, datetime(2024, 1, 1)):
        assert not mon.log(model="m", version="v1", features={}, score=0.5, latency_ms=1, ts=ts)
    mon.close()
    reasons = store.parked_events()["reason"].tolist()
    assert len(reasons) == 4
    for reason in reasons:
        assert reason.startswith("bad_ts: ") and "timezone-aware" in reason, reason
    assert sum("epoch seconds or milliseconds" in r for r in reasons) == 3
    assert any("datetime.datetime(2024, 1, 1, 0, 0)" in r for r in reasons)


def test_readme_sdk_example_runs_verbatim(tmp_path: Path) -> None:
    """The README's SDK block used ``{...arrays...}`` and undefined frames (a SyntaxError as
    written); it now runs as pasted and stores what it logs."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("## The SDK", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    subprocess.run([sys.executable, "-c", block], cwd=tmp_path, check=True, timeout=120)
    store = DuckDBStore(tmp_path / "health.duckdb", read_only=True)
    try:
        counts = {
            t: int(store._query(f"SELECT count(*) AS n FROM {t}")["n"].iloc[0])
            for t in ("inferences", "outcomes", "parked_events")
        }
    finally:
        store.close()
    assert counts == {"inferences": 3, "outcomes": 1, "parked_events": 0}


def test_pd_na_in_a_mixed_object_column_of_log_batch_is_a_null() -> None:
    """The row-by-row check of an object column mixing kinds parked a pd.NA row."""
    store = DuckDBStore()
    mon = _monitor(store)
    n = mon.log_batch(
        model="m",
        version="v1",
        features={"a": np.array(["x", 1, pd.NA], dtype=object)},
        score=np.full(3, 0.5),
        latency_ms=np.ones(3),
        ts_ms=np.full(3, T_MS),
    )
    mon.close()
    assert (n, mon.stats.parked_total) == (3, 0)
    summary = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS))
    assert summary[["kind", "count", "nulls", "valid"]].values.tolist() == [
        ["categorical", 3, 1, 2]
    ]
