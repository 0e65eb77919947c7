"""SDK -> Kafka -> Pinot gives the same answers as SDK -> DuckDB on the same events.

Three simulated hours of the demo fleet (with references, so feature bins are real) plus
labelled outcomes go through one ``Monitor`` whose sink tees into ``KafkaSink`` and an
in-memory DuckDB store. Every table and topic is private to this session (a random namespace)
and dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import KafkaSink
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.store.backend import LATENCY_QUANTILES, Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.store.pinot import PERCENTILE_RANK_ERROR, PinotStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = 3
HOUR_MS = 3_600_000


class TeeSink:
    """Writes each batch to every sink and keeps the raw inference rows for exact checks."""

    def __init__(self, *sinks: KafkaSink | DuckDBSink) -> None:
        self.sinks = sinks
        self.inferences: list[pd.DataFrame] = []

    def write(self, batch: EventBatch) -> None:
        for sink in self.sinks:
            sink.write(batch)
        self.inferences.append(batch.inferences)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


@dataclass
class Pipeline:
    duck: DuckDBStore
    pinot: PinotStore
    raw: pd.DataFrame  # every inference row produced
    produced: dict[str, int]
    start_ms: int
    end_ms: int


def _produce_outcomes(monitor: Monitor, start_ms: int) -> None:
    """Labelled predictions: 200 fraud requests with ids, 150 of them get a label later."""
    rng = np.random.default_rng(7)
    ids = [f"req-{i}" for i in range(200)]
    monitor.log_batch(
        model="fraud",
        version="v3",
        features={"amount": rng.gamma(2.0, 30.0, 200)},
        score=rng.random(200),
        latency_ms=rng.gamma(2.0, 5.0, 200),
        ts_ms=start_ms + np.arange(200, dtype=np.int64) * 1000,
        request_ids=ids,
        host="host-a",
    )
    for i, rid in enumerate(ids[:150]):
        monitor.log_outcome(model="fraud", request_id=rid, label=float(i % 2), ts=start_ms + i)


def _produce_awkward(tee: TeeSink, start_ms: int) -> None:
    """Data that once read differently on the two stores (a QA pass found each):

    - ``kindflip``: feature ``x`` numeric in v1 and strings in v2 (no reference);
    - ``nullfirst``: a flush holding only nulls of ``z`` before one holding its numbers;
    - ``refchange``: ``f`` binned by one reference in v1 and another in v2, so bin 3 has two
      labels.
    """
    clock = FakeClock(T0)
    mon = Monitor(tee, clock=clock)
    for i in range(100):
        ts = start_ms / 1000 + i  # seconds, as log() takes them
        mon.log(model="kindflip", version="v1", features={"x": float(i % 10)}, score=0.5,
                latency_ms=1.0, ts=ts)  # fmt: skip
        mon.log(model="kindflip", version="v2", features={"x": f"c{i % 7}"}, score=0.5,
                latency_ms=1.0, ts=ts)  # fmt: skip
    for i in range(40):
        mon.log(model="nullfirst", version="v1", features={"z": None if i < 20 else float(i)},
                score=0.5, latency_ms=1.0, ts=start_ms / 1000 + i)  # fmt: skip
        if i == 19:
            mon.flush()
    mon.flush()
    rng = np.random.default_rng(5)
    for version, scale in (("v1", 1.0), ("v2", 100.0)):
        ref = build_reference("refchange", pd.DataFrame({"f": rng.random(500) * scale}))
        side = Monitor(tee, {"refchange": ref}, clock=clock)
        side.log_batch(model="refchange", version=version, features={"f": rng.random(60) * scale},
                       score=rng.random(60), latency_ms=np.ones(60),
                       ts_ms=start_ms + np.arange(60, dtype=np.int64) * 1000)  # fmt: skip
        side.flush()
    _produce_qa_strings(tee, start_ms)


QA_CATEGORIES = ["L" * 600, "L" * 600 + "x", "trail\x00", "ü😀", "a"]


def _produce_qa_strings(tee: TeeSink, start_ms: int) -> None:
    """``qastrings``: strings Pinot would cut (a NUL, > 512 characters) and scores far from
    zero (1e9 + N(0, 1)), where the one-pass std cancels. Request ids with a NUL are parked
    by the SDK; bin labels are stored NUL-free and <= MAX_LABEL_CHARS."""
    ref = build_reference("qastrings", pd.DataFrame({"c": QA_CATEGORIES * 20}))
    mon = Monitor(tee, {"qastrings": ref}, clock=FakeClock(T0))
    n = 100
    rng = np.random.default_rng(11)
    ids = [f"q-{i}" if i % 10 else f"q\x00{i}" for i in range(n)]  # 10 parked
    values = np.array([*QA_CATEGORIES, "unseen"] * 20, dtype=object)[:n]
    mon.log_batch(
        model="qastrings",
        version="v1",
        features={"c": values},
        score=1e9 + rng.normal(0, 1, n),
        latency_ms=np.ones(n),
        ts_ms=start_ms + np.arange(n, dtype=np.int64) * 1000,
        request_ids=ids,
    )
    mon.log_outcome(model="qastrings", request_id="q\x00a", label=1.0, ts=start_ms)  # parked
    mon.log_outcome(model="qastrings", request_id="q-1", label=1.0, ts=start_ms)
    assert mon.stats.parked == {"bad_request_id": 11}
    mon.flush()  # not close(): that would close the shared sinks


@pytest.fixture(scope="module")
def pipeline(jvm_services: None) -> Iterator[Pipeline]:
    namespace = f"it{uuid.uuid4().hex[:8]}_"
    init_pinot(namespace)
    duck = DuckDBStore()
    tee = TeeSink(KafkaSink(namespace=namespace), DuckDBSink(duck))
    models = fleet()
    refs = {name: build_reference(name, *training_sample(m)) for name, m in models.items()}
    monitor = Monitor(tee, refs, clock=FakeClock(T0))
    end_ms = to_epoch_ms(T0)
    start_ms = end_ms - HOURS * HOUR_MS
    backfill(monitor, models, T0, days=HOURS / 24, seed=3)
    _produce_outcomes(monitor, start_ms)
    _produce_awkward(tee, start_ms)
    monitor.close()
    produced = {
        name: int(duck._query(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0]) for name in TABLES
    }
    pinot = PinotStore(namespace=namespace)
    try:
        for name, n in produced.items():
            pinot.wait_for_rows(name, n, timeout=180)
        yield Pipeline(duck, pinot, pd.concat(tee.inferences), produced, start_ms, end_ms)
    finally:
        pinot.close()
        duck.close()
        drop_pinot(namespace)


def test_every_produced_row_is_queryable_in_pinot(pipeline: Pipeline) -> None:
    assert pipeline.produced["inferences"] > 10_000
    assert pipeline.produced["feature_bins"] > 0 and pipeline.produced["outcomes"] == 151
    queryable = {name: pipeline.pinot.count(name) for name in TABLES}
    assert queryable == pipeline.produced  # N produced == N queryable, no duplicates


def test_catalog_queries_match(pipeline: Pipeline) -> None:
    duck, pinot = pipeline.duck, pipeline.pinot
    assert pinot.models() == duck.models()
    assert duck.models() == [
        "churn",
        "fraud",
        "kindflip",
        "nullfirst",
        "qastrings",
        "ranker",
        "refchange",
        "search",
    ]
    for model in duck.models():
        assert pinot.versions(model) == duck.versions(model)
        assert pinot.hosts(model) == duck.hosts(model)
        assert pinot.time_range(model) == duck.time_range(model)
    assert pinot.time_range() == duck.time_range()
    assert pinot.time_range("no_such_model") is None
    pd.testing.assert_frame_equal(pinot.last_seen(), duck.last_seen())
    until = pipeline.start_ms + HOUR_MS  # as of a backtest tick
    pd.testing.assert_frame_equal(pinot.last_seen(until), duck.last_seen(until))
    assert (duck.last_seen(until)["last_ts"] < until).all()


def _scopes(p: Pipeline, host: bool = True) -> list[Scope]:
    """Feature tables have no host column, so their scopes never filter on it."""
    return [
        Scope("fraud", p.start_ms, p.end_ms),
        Scope("ranker", p.start_ms, p.end_ms, version="v1"),
        Scope("search", p.start_ms + HOUR_MS, p.end_ms, host="host-a" if host else None),
    ]


@pytest.mark.parametrize("step_ms", [None, HOUR_MS, 600_000])
def test_feature_summaries_and_histograms_match_exactly(
    pipeline: Pipeline, step_ms: int | None
) -> None:
    for scope in _scopes(pipeline, host=False):
        for by_version in (False, True):
            a = pipeline.duck.feature_summary(scope, step_ms=step_ms, by_version=by_version)
            b = pipeline.pinot.feature_summary(scope, step_ms=step_ms, by_version=by_version)
            assert len(a) > 0
            # counts/min/max exact; mean/std from sums added in another order: 1e-9 relative
            pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-9)
            cols = ["count", "nulls", "specials", "valid", "min", "max"]
            pd.testing.assert_frame_equal(b[cols], a[cols], check_exact=True)
            a = pipeline.duck.feature_histograms(scope, step_ms=step_ms, by_version=by_version)
            b = pipeline.pinot.feature_histograms(scope, step_ms=step_ms, by_version=by_version)
            assert len(a) > 0
            pd.testing.assert_frame_equal(b, a, check_exact=True)
    scope = _scopes(pipeline)[0]
    only = pipeline.pinot.feature_summary(scope, features=["amount"])
    assert list(only["feature"]) == ["amount"]
    # no feature asked for: empty on both (Pinot answered HTTP 500 to the "1 = 0" it got)
    for ask in ("feature_summary", "feature_histograms"):
        a, b = getattr(pipeline.duck, ask)(scope, []), getattr(pipeline.pinot, ask)(scope, [])
        assert len(a) == len(b) == 0


@pytest.mark.parametrize("model", ["kindflip", "nullfirst", "refchange"])
def test_features_that_changed_kind_or_reference_read_the_same(
    pipeline: Pipeline, model: str
) -> None:
    scope = Scope(model, pipeline.start_ms, pipeline.end_ms)
    for by_version in (False, True):
        a = pipeline.duck.feature_summary(scope, by_version=by_version)
        b = pipeline.pinot.feature_summary(scope, by_version=by_version)
        pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-9)
        a = pipeline.duck.feature_histograms(scope, by_version=by_version)
        b = pipeline.pinot.feature_histograms(scope, by_version=by_version)
        pd.testing.assert_frame_equal(b, a, check_exact=True)
    summary = pipeline.duck.feature_summary(scope).set_index("feature")
    if model == "kindflip":  # one row; the mean of the numbers alone (4.5), not diluted
        assert summary.loc["x", "kind"] == "mixed" and summary.loc["x", "count"] == 200
        assert summary.loc["x", "mean"] == pytest.approx(4.5)
    if model == "nullfirst":  # the nulls-only flush does not make it categorical
        assert summary.loc["z", "kind"] == "numeric" and summary.loc["z", "nulls"] == 20
        assert summary.loc["z", "mean"] == pytest.approx(29.5)
    if model == "refchange":  # bin 3 under two labels: two rows on both stores
        hist = pipeline.duck.feature_histograms(scope)
        assert hist.duplicated(["feature", "bin"]).any()
        assert not hist.duplicated(["feature", "bin", "label"]).any()


def test_empty_answers_have_the_same_columns_and_types(pipeline: Pipeline) -> None:
    scope = Scope("fraud", pipeline.end_ms + HOUR_MS, pipeline.end_ms + 2 * HOUR_MS)
    asks = {
        "latency": {"by_version": True},
        "score": {"step_ms": 60_000},
        "feature_summary": {},
        "feature_histograms": {"step_ms": 60_000},
    }
    for ask, kwargs in asks.items():
        a = getattr(pipeline.duck, ask)(scope, **kwargs)
        b = getattr(pipeline.pinot, ask)(scope, **kwargs)
        assert len(a) == len(b) == 0, ask
        pd.testing.assert_frame_equal(b, a, check_index_type=False, obj=ask)


def test_score_histogram_matches_exactly(pipeline: Pipeline) -> None:
    for scope in _scopes(pipeline):
        for edges in ([0.1, 0.25, 0.5, 0.75, 0.9], [0.5], []):
            a = pipeline.duck.score_histogram(scope, edges)
            b = pipeline.pinot.score_histogram(scope, edges)
            pd.testing.assert_frame_equal(b, a, check_exact=True)


def _in_scope(raw: pd.DataFrame, scope: Scope, step_ms: int | None) -> pd.DataFrame:
    m = (raw["model"] == scope.model) & (raw["ts"] >= scope.start_ms) & (raw["ts"] < scope.end_ms)
    if scope.version is not None:
        m &= raw["version"] == scope.version
    if scope.host is not None:
        m &= raw["host"] == scope.host
    out = raw[m].copy()
    out["bucket"] = 0 if step_ms is None else (out["ts"] // step_ms) * step_ms
    return out


def _assert_within_rank_bound(
    pinot_value: float, duck_value: float, values: np.ndarray, q: float
) -> None:
    """The documented bound: both answers lie in [x[k], x[k + 1]], k = floor((n - 1) q)."""
    x = np.sort(values)
    k = int(np.floor((len(x) - 1) * q))
    hi = x[min(k + PERCENTILE_RANK_ERROR, len(x) - 1)]
    assert x[k] <= duck_value <= hi
    assert x[k] <= pinot_value <= hi
    assert pinot_value in set(x)  # Pinot returns an actual order statistic


@pytest.mark.parametrize("step_ms", [None, HOUR_MS])
def test_latency_and_score_match_within_the_percentile_bound(
    pipeline: Pipeline, step_ms: int | None
) -> None:
    for scope in _scopes(pipeline):
        raw = _in_scope(pipeline.raw, scope, step_ms)
        groups = [g for _, g in raw.groupby("bucket", sort=True)]
        a, b = pipeline.duck.latency(scope, step_ms), pipeline.pinot.latency(scope, step_ms)
        exact = [c for c in a.columns if not c.startswith("p")]
        pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=False, rtol=1e-9)
        assert list(b.columns) == list(a.columns) and len(groups) == len(a)
        for i, g in enumerate(groups):
            for q in LATENCY_QUANTILES:
                col = f"p{round(q * 100)}"
                _assert_within_rank_bound(b[col][i], a[col][i], g["latency_ms"].to_numpy(), q)
        a, b = pipeline.duck.score(scope, step_ms), pipeline.pinot.score(scope, step_ms)
        assert list(b.columns) == list(a.columns)
        exact = ["count", "min", "max"] + (["ts"] if step_ms else [])
        pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=True)
        pd.testing.assert_frame_equal(b[["mean", "std"]], a[["mean", "std"]], rtol=1e-7)
        for i, g in enumerate(groups):
            for q, col in ((0.5, "p50"), (0.9, "p90")):
                _assert_within_rank_bound(b[col][i], a[col][i], g["score"].to_numpy(), q)


def test_outcomes_join_matches(pipeline: Pipeline) -> None:
    scope = Scope("fraud", pipeline.start_ms, pipeline.end_ms)
    a = pipeline.duck.outcomes(scope).sort_values(["ts", "request_id"]).reset_index(drop=True)
    b = pipeline.pinot.outcomes(scope)
    assert len(a) == 150
    pd.testing.assert_frame_equal(b, a, check_exact=True)
    a = pipeline.duck.outcomes(scope, step_ms=HOUR_MS).sort_values(["ts", "request_id"])
    b = pipeline.pinot.outcomes(scope, step_ms=HOUR_MS).sort_values(["ts", "request_id"])
    pd.testing.assert_frame_equal(b.reset_index(drop=True), a.reset_index(drop=True))
    assert pipeline.pinot.outcomes(Scope("ranker", pipeline.start_ms, pipeline.end_ms)).empty


def test_anomaly_export_writes_the_same_series_from_both_stores(pipeline: Pipeline, tmp_path):
    """``anomaly export`` through Pinot and DuckDB: same files, buckets and values (metrics
    whose store answers are exact or sums in another order; percentiles have their own bound
    above)."""
    from modelhealth.anomaly.dataset import load_dataset
    from modelhealth.anomaly.export import export_series

    metrics = ["latency.mean", "count", "feature.null_rate"]
    span = (pipeline.start_ms, pipeline.end_ms, 300_000)
    for name, store in (("duck", pipeline.duck), ("pinot", pipeline.pinot)):
        written = export_series(store, metrics, *span, tmp_path / name, min_points=10)
        assert len(written) > 10, name
    duck = {s.name: s for s in load_dataset(tmp_path / "duck")}
    pinot = {s.name: s for s in load_dataset(tmp_path / "pinot")}
    assert sorted(pinot) == sorted(duck)
    for key, a in duck.items():
        b = pinot[key]
        assert np.array_equal(a.timestamps, b.timestamps), key
        assert np.allclose(a.values, b.values, rtol=1e-9, equal_nan=True), key


def test_strings_pinot_would_cut_are_stored_alike(pipeline: Pipeline) -> None:
    """QA: "k\\x00a" and "k\\x00b" were both "k" in Pinot (labels joined to the wrong
    prediction); a 600-character category label was cut to 512 in Pinot only."""
    from modelhealth.ingestion.schema import MAX_LABEL_CHARS

    scope = Scope("qastrings", pipeline.start_ms, pipeline.end_ms)
    a, b = pipeline.duck.feature_histograms(scope), pipeline.pinot.feature_histograms(scope)
    pd.testing.assert_frame_equal(b, a, check_exact=True)
    assert len(a) == len(QA_CATEGORIES) + 1  # two long categories: two bins, one label
    assert all("\x00" not in lb and len(lb) <= MAX_LABEL_CHARS for lb in b["label"])
    a, b = pipeline.duck.outcomes(scope), pipeline.pinot.outcomes(scope)
    pd.testing.assert_frame_equal(b, a.reset_index(drop=True), check_exact=True)
    assert list(b["request_id"]) == ["q-1"]


def test_score_std_far_from_zero_stays_within_the_range(pipeline: Pipeline) -> None:
    """Pinot's one-pass std said 40.8 for 1e9 + N(0, 1) (true 1.02): now capped at
    (max - min) / 2 (documented bound; DuckDB's stddev_pop is exact)."""
    scope = Scope("qastrings", pipeline.start_ms, pipeline.end_ms)
    a, b = pipeline.duck.score(scope), pipeline.pinot.score(scope)
    for col in ("count", "min", "max"):
        assert b[col].iloc[0] == a[col].iloc[0], col
    assert a["std"].iloc[0] == pytest.approx(1.0, rel=0.3)
    assert b["std"].iloc[0] <= (b["max"].iloc[0] - b["min"].iloc[0]) / 2


def test_bad_arguments_raise_the_same_error_on_both_stores(pipeline: Pipeline) -> None:
    from modelhealth.errors import InvalidName

    scope = Scope("fraud", pipeline.start_ms, pipeline.end_ms)
    for store in (pipeline.duck, pipeline.pinot):
        for edges in ([0.8, 0.2], [0.5, 0.5], [float("nan")]):
            with pytest.raises(ValueError, match="histogram edges"):
                store.score_histogram(scope, edges)
        for ask in ("feature_summary", "feature_histograms"):
            with pytest.raises(ValueError, match="not kept per host"):
                getattr(store, ask)(Scope("fraud", scope.start_ms, scope.end_ms, host="host-a"))
        with pytest.raises(InvalidName):
            store.time_range("")
