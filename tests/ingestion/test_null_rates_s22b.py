"""QA round 22b: a feature's null count no longer depends on where flushes fall.

A key missing from an event counted as a null only where another event of the same flush had
the feature, so an optional feature (``coupon`` in 1 of 8 events) read 87.5% nulls as one
flush and 50% as two, and a flush without it stored nothing of it. Data contracts and drift
rules read those null rates. Now a missing key is a null of every feature the Monitor knows
for the model version (the model's reference's, and those it logged for the version before),
whichever flush holds the event, in ``log`` and ``log_batch`` alike; a feature only missing
in a flush keeps the kind it was stored as. Everything is checked against the real DuckDB
store through its query interface, with the expected figures counted here event by event.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference, sdk
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
HOUR_MS = 3_600_000
FLUSH_PATTERNS = (1, 3, 7, 1000)
"""Flush after every k-th event: each event a flush of its own, uneven flushes, one flush."""


def _events(n: int, seed: int) -> list[dict[str, object]]:
    """Feature dicts of ``n`` events: ``amount`` always, ``coupon`` in ~1 of 8 (never in the
    first two), ``country`` from event 5 on, sometimes None, and ``age`` in every 3rd."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for i in range(n):
        feats: dict[str, object] = {"amount": float(rng.exponential(20))}
        if i >= 2 and rng.random() < 1 / 8:
            feats["coupon"] = str(rng.choice(["SAVE5", "SAVE10"]))
        if i >= 5:
            feats["country"] = None if rng.random() < 0.2 else str(rng.choice(["DE", "FR"]))
        if i % 3 == 2:
            feats["age"] = int(rng.integers(18, 90))
        out.append(feats)
    return out


def _expected(events: Iterable[Mapping[str, object]], reference: Iterable[str] = ()) -> dict:
    """feature -> (count, nulls) by the documented rule, event by event: a feature counts
    from the first event that has it (a reference's from the first event); a missing key
    or a None is a null."""
    known = set(reference)
    count: Counter[str] = Counter()
    nulls: Counter[str] = Counter()
    for feats in events:
        known |= feats.keys()
        for name in known:
            count[name] += 1
            nulls[name] += feats.get(name) is None
    return {name: (count[name], nulls[name]) for name in count}


def _log_all(mon: Monitor, events: list[dict[str, object]], every: int, version: str) -> None:
    """Log ``events`` one minute apart modulo 3 (several buckets), flushing every ``every``."""
    for i, feats in enumerate(events):
        ts = T_MS + (i % 3) * 60_000 + i
        assert mon.log(model="m", version=version, features=feats, score=0.5, latency_ms=1.0, ts=ts)
        if (i + 1) % every == 0:
            mon.flush()
    mon.flush()


def _stored(store: DuckDBStore, version: str | None = None) -> pd.DataFrame:
    """What the store answers for the whole window: one row per (feature, kind)."""
    summary = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS, version=version))
    return summary.sort_values(["feature", "kind"]).reset_index(drop=True)


def _counts(summary: pd.DataFrame) -> dict[str, tuple[int, int]]:
    return {r.feature: (int(r.count), int(r.nulls)) for r in summary.itertuples()}


def _kinds_stored(store: DuckDBStore) -> list[tuple[str, str]]:
    """Every (feature, kind) the feature_stats rows hold (``feature_summary`` merges the
    rows of one feature stored as two kinds, see ``store.backend.finish_summary``)."""
    rows = store._query("SELECT DISTINCT feature, kind FROM feature_stats ORDER BY 1, 2")
    return list(rows.itertuples(index=False, name=None))


def _reference_with_coupon() -> object:
    rng = np.random.default_rng(0)
    n = 400
    coupon = np.where(rng.random(n) < 0.2, rng.choice(["SAVE5", "SAVE10"], n), None)
    train = pd.DataFrame({"amount": rng.exponential(20, n), "coupon": coupon})
    return build_reference("m", train)


@pytest.mark.parametrize("every", FLUSH_PATTERNS)
def test_null_rate_of_a_reference_feature_is_the_true_rate_however_events_are_flushed(
    every: int,
) -> None:
    """The QA case: ``coupon`` in the reference, present in few events. Its stored null
    rate is the true one (events lacking it / all events), for every flush pattern; it was
    the rate over the flushes that happened to hold a coupon, and nothing at all for the
    rest."""
    events = _events(64, seed=1)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m": _reference_with_coupon()}, clock=FakeClock(T))
    _log_all(mon, events, every, "v1")
    mon.close()
    got = _counts(_stored(store))
    true_nulls = sum("coupon" not in e for e in events)
    assert 0 < true_nulls < len(events)
    assert got["coupon"] == (len(events), true_nulls)
    assert got["amount"] == (len(events), 0)
    summary = _stored(store).set_index("feature")
    rate = summary.loc["coupon", "nulls"] / summary.loc["coupon", "count"]
    assert rate == pytest.approx(true_nulls / len(events))
    assert got == _expected(events, reference=("amount", "coupon"))


def test_features_without_reference_count_from_their_first_event_whatever_the_flushes() -> None:
    """No reference: ``coupon``, ``country`` and ``age`` count from the first event that
    has them, missing keys after that are nulls, and every flush pattern stores the very
    same figures (one flush of all events counted the earlier events too, a flush of one
    event none of the later ones)."""
    events = _events(80, seed=2)
    expected = _expected(events)
    assert expected["coupon"][0] < len(events)  # first seen after the first event
    for every in FLUSH_PATTERNS:
        store = DuckDBStore()
        mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
        _log_all(mon, events, every, "v1")
        mon.close()
        assert _counts(_stored(store)) == expected, every


@pytest.mark.parametrize("with_reference", [False, True], ids=["seen", "reference"])
def test_a_feature_one_version_logs_is_a_null_in_another_only_by_the_reference(
    with_reference: bool,
) -> None:
    """Features seen are a version's own: v1 and v2 interleaved, v2 never sends
    ``coupon``. Without a reference v2 stores nothing of it (a canary that adds a feature
    does not make the old version's events nulls of it); with ``coupon`` in the model's
    reference, every v2 event is a null of it. Either way each version's figures are its
    own events' by the rule, flushes falling between versions at random."""
    events = _events(60, seed=3)
    reference = {"m": _reference_with_coupon()} if with_reference else {}
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), reference, clock=FakeClock(T))
    logged: dict[str, list[dict[str, object]]] = {"v1": [], "v2": []}
    for i, feats in enumerate(events):
        version = "v1" if i % 2 else "v2"
        if version == "v2":
            feats = {k: v for k, v in feats.items() if k != "coupon"}
        logged[version].append(feats)
        mon.log(model="m", version=version, features=feats, score=0.5, latency_ms=1.0, ts=T_MS)
        if i % 5 == 4:
            mon.flush()
    mon.close()
    known = ("amount", "coupon") if with_reference else ()
    for version, evs in logged.items():
        assert _counts(_stored(store, version)) == _expected(evs, known), version
    v2 = _counts(_stored(store, "v2"))
    assert v2.get("coupon") == ((30, 30) if with_reference else None)


def test_log_batch_lacking_a_known_feature_stores_a_null_for_every_row() -> None:
    """A batch whose ``features`` lacks a feature the model has (seen in ``log`` before, or
    in its reference) holds a null of it in every row, as ``log`` events lacking it do; the
    batch's own new features count from the batch on."""
    ref = build_reference("m", pd.DataFrame({"amount": [1.0, 2.0, 3.0], "tier": ["a", "b", "a"]}))
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T))
    mon.log(model="m", version="v1", features={"coupon": "SAVE5"}, score=0.5, latency_ms=1, ts=T)
    mon.flush()
    n = 50
    got = mon.log_batch(
        model="m",
        version="v1",
        features={"amount": np.linspace(1, 5, n), "age": np.arange(n)},
        score=np.full(n, 0.5),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, T_MS),
    )
    assert got == n
    mon.log(model="m", version="v1", features={"amount": 2.0}, score=0.5, latency_ms=1, ts=T)
    mon.close()
    counts = _counts(_stored(store))
    assert counts == {
        "amount": (n + 2, 1),
        "tier": (n + 2, n + 2),
        "coupon": (n + 2, n + 1),
        "age": (n + 1, 1),
    }
    assert counts == _expected(
        [{"coupon": "SAVE5"}, *({"amount": 1.0, "age": 1} for _ in range(n)), {"amount": 2.0}],
        reference=("amount", "tier"),
    )


def test_a_feature_only_missing_in_a_flush_keeps_the_kind_it_was_stored_as() -> None:
    """Without a reference a column's kind comes from its values; a flush (or a batch) in
    which a known feature is only missing, None or NaN has no value to tell, and used to
    store a categorical ``city`` as numeric (a float NaN column) and a numeric ``age`` as
    categorical (a column of None): one feature, two kinds, and its null rate split."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
    first = [{"city": "Berlin", "age": 31}, {"city": "Paris", "age": 47}]
    for feats in first:
        mon.log(model="m", version="v1", features=feats, score=0.5, latency_ms=1, ts=T)
    mon.flush()
    for feats in ({}, {"age": None}, {"city": None}, {"city": float("nan"), "age": None}):
        mon.log(model="m", version="v1", features=feats, score=0.5, latency_ms=1, ts=T)
    mon.flush()
    mon.log_batch(
        model="m",
        version="v1",
        features={"city": np.full(3, np.nan), "age": np.array([None] * 3, dtype=object)},
        score=np.full(3, 0.5),
        latency_ms=np.ones(3),
        ts_ms=np.full(3, T_MS),
    )
    mon.log_batch(
        model="m",
        version="v1",
        features={},
        score=np.full(2, 0.5),
        latency_ms=np.ones(2),
        ts_ms=np.full(2, T_MS),
    )
    mon.close()
    summary = _stored(store)
    got = summary[["feature", "kind", "count", "nulls", "specials", "valid"]].values.tolist()
    assert got == [
        ["age", "numeric", 11, 9, 0, 2],
        ["city", "categorical", 11, 9, 0, 2],  # a NaN of a numeric city was a special
    ]
    assert _kinds_stored(store) == [("age", "numeric"), ("city", "categorical")]


def test_a_feature_first_seen_with_only_nulls_takes_the_kind_its_values_later_say() -> None:
    """Before any value says otherwise, a feature seen only as None is categorical (as
    before: nothing tells); once numbers arrive it is stored as numeric, and stays so in
    flushes where it is only missing. The store merges the rows into one numeric feature."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
    for feats in ({"x": None}, {"x": 1.5}, {}, {"x": None}):
        mon.log(model="m", version="v1", features=feats, score=0.5, latency_ms=1, ts=T)
        mon.flush()
    mon.close()
    got = _stored(store)[["feature", "kind", "count", "nulls", "valid"]].values.tolist()
    assert got == [["x", "numeric", 4, 3, 1]]
    raw = store._query("SELECT kind, count, nulls FROM feature_stats ORDER BY kind, nulls")
    assert raw.values.tolist() == [
        ["categorical", 1, 1],
        ["numeric", 1, 0],
        ["numeric", 1, 1],
        ["numeric", 1, 1],
    ]


def test_features_a_monitor_remembers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MAX_SEEN_FEATURES names per version (sparse keys) a feature is not remembered:
    it is counted only in the flush that holds it, from the first event that has it."""
    monkeypatch.setattr(sdk, "MAX_SEEN_FEATURES", 3)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
    for i in range(6):
        mon.log(model="m", version="v1", features={f"k{i}": 1.0}, score=0.5, latency_ms=1, ts=T)
    mon.flush()
    mon.log(model="m", version="v1", features={"k0": 2.0}, score=0.5, latency_ms=1, ts=T)
    mon.close()
    assert list(mon._seen[("m", "v1")]) == ["k0", "k1", "k2"]
    counts = _counts(_stored(store))
    assert counts == {
        "k0": (7, 5),
        "k1": (6, 5),
        "k2": (5, 4),
        "k3": (3, 2),  # not remembered: from its first event to the end of its flush
        "k4": (2, 1),
        "k5": (1, 0),
    }


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the aggregation pool needs 2 cores")
def test_a_big_buffer_left_at_exit_is_aggregated_not_parked(tmp_path: Path) -> None:
    """At interpreter exit the aggregation thread pool takes no more work; a flush of
    20,000+ events with 4+ features (what the exit hook flushes of a busy server) failed
    with "cannot schedule new futures after interpreter shutdown" and every event was
    parked as an aggregate error. It is now aggregated on the exiting thread."""
    db = tmp_path / "h.duckdb"
    script = (
        "from modelhealth.ingestion import Monitor\n"
        "from modelhealth.store.duckdb import DuckDBSink, DuckDBStore\n"
        f"mon = Monitor(DuckDBSink(DuckDBStore({str(db)!r})))\n"
        "for i in range(25_000):\n"
        "    mon.log(model='m', version='v1', score=0.5, latency_ms=1.0,\n"
        "            features={'a': 1.0, 'b': i, 'c': 'x', 'd': i % 2 == 0})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    store = DuckDBStore(db, read_only=True)
    try:
        assert int(store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0]) == 25_000
        assert store.parked_events().empty
        stats = store._query("SELECT feature, sum(count) AS n FROM feature_stats GROUP BY 1")
        assert dict(zip(stats["feature"], stats["n"], strict=True)) == dict.fromkeys("abcd", 25_000)
    finally:
        store.close()
