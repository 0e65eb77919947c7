"""Pinot's fleet queries (one query for many models) give DuckDB's answers on the same events,
and with them the rules engine asks Pinot as many queries for many models as for few.

Two simulated hours of the demo fleet, plus a model whose name uses every punctuation mark a
name may hold (``team-a.fraud_2``, two versions), go through one ``Monitor`` whose sink tees
into ``KafkaSink`` and an in-memory DuckDB store, in a random Pinot namespace dropped at the
end (the pattern of ``test_pipeline_parity.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.context import PageContext, Settings, TimeWindow
from modelhealth.dashboard.data import Queries, StoreHandle, clear_caches
from modelhealth.dashboard.views import fleet as fleet_page
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.traffic import backfill
from modelhealth.errors import InvalidName
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.kafka_sink import KafkaSink
from modelhealth.ingestion.reference import ModelReference
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import LATENCY_QUANTILES
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.store.pinot import PERCENTILE_RANK_ERROR, PinotStore
from tests.integration.test_pipeline_parity import TeeSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = 2
HOUR_MS = 3_600_000
ODD = "team-a.fraud_2"  # '-' and '.' are allowed in names; quotes are not (see below)
ALL = ["churn", "fraud", "ranker", "search", ODD]
WIDE = [f"wide{i}" for i in range(4)]
WIDE_FEATURES, WIDE_MINUTES, WIDE_PER_MINUTE = 50, 60, 60
"""Four models whose minute-bucketed histograms hold ~30,000 groups each, ~121,000 in all:
more than Pinot's group limit (``numGroupsLimit``, 100,000) in one answer."""


class CountingPinot(PinotStore):
    """A real PinotStore that counts the statements it sends to the broker."""

    sent = 0

    def _query(self, sql: str, params: dict[str, object] | None = None) -> pd.DataFrame:
        self.sent += 1
        return super()._query(sql, params)


class PerModel:
    """The same store without its ``fleet_*`` methods: how Pinot was asked before."""

    def __init__(self, store: PinotStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name.startswith("fleet_"):
            raise AttributeError(name)
        return getattr(self._store, name)


@dataclass
class Pipeline:
    duck: DuckDBStore
    pinot: CountingPinot
    raw: pd.DataFrame
    start_ms: int
    end_ms: int
    refs: dict[str, ModelReference]


def _produce_odd_name(tee: TeeSink, start_ms: int) -> None:
    rng = np.random.default_rng(9)
    ref = build_reference(ODD, pd.DataFrame({"amount": rng.gamma(2.0, 30.0, 500)}))
    mon = Monitor(tee, {ODD: ref}, clock=FakeClock(T0))
    for version, n in (("v1", 300), ("2.0-rc.1", 120)):
        mon.log_batch(
            model=ODD,
            version=version,
            features={"amount": rng.gamma(2.0, 30.0, n), "kind": rng.choice(["a", "b"], n)},
            score=rng.random(n),
            latency_ms=rng.gamma(2.0, 5.0, n),
            ts_ms=start_ms + np.arange(n, dtype=np.int64) * 20_000,
            is_error=rng.random(n) < 0.05,
        )
    mon.flush()  # not close(): that would close the shared sinks


def _produce_wide(tee: TeeSink, start_ms: int) -> None:
    rng = np.random.default_rng(13)
    names = [f"f{j:02d}" for j in range(WIDE_FEATURES)]
    n = WIDE_MINUTES * WIDE_PER_MINUTE
    for model in WIDE:
        ref = build_reference(model, pd.DataFrame({f: rng.random(1000) for f in names}))
        mon = Monitor(tee, {model: ref}, clock=FakeClock(T0))
        mon.log_batch(
            model=model,
            version="v1",
            features={f: rng.random(n) for f in names},
            score=rng.random(n),
            latency_ms=np.ones(n),
            ts_ms=start_ms + np.arange(n, dtype=np.int64) * (60_000 // WIDE_PER_MINUTE),
        )
        mon.flush()


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
    backfill(monitor, models, T0, days=HOURS / 24, seed=4)
    _produce_odd_name(tee, start_ms)
    _produce_wide(tee, start_ms)
    monitor.close()
    produced = {n: int(duck._query(f"SELECT count(*) AS n FROM {n}")["n"].iloc[0]) for n in TABLES}
    pinot = CountingPinot(namespace=namespace)
    try:
        for name, n in produced.items():
            pinot.wait_for_rows(name, n, timeout=180)
        yield Pipeline(duck, pinot, pd.concat(tee.inferences), start_ms, end_ms, refs)
    finally:
        pinot.close()
        duck.close()
        drop_pinot(namespace)


MODEL_LISTS = [ALL, ["fraud", ODD], [ODD]]
"""Several models (one needing no escaping but unusual punctuation), a pair, one alone."""


def _window(p: Pipeline, late: bool) -> tuple[int, int]:
    return (p.start_ms + HOUR_MS, p.end_ms) if late else (p.start_ms, p.end_ms)


def _assert_within_rank_bound(pinot: float, duck: float, values: np.ndarray, q: float) -> None:
    """The bound README and pinot.py document: both in [x[k], x[k + 1]], k = floor((n-1) q)."""
    x = np.sort(values)
    k = int(np.floor((len(x) - 1) * q))
    hi = x[min(k + PERCENTILE_RANK_ERROR, len(x) - 1)]
    assert x[k] <= duck <= hi
    assert x[k] <= pinot <= hi
    assert pinot in set(x)


def _raw_of(p: Pipeline, row: pd.Series, lo: int, hi: int, step_ms: int | None) -> pd.DataFrame:
    """The raw inference rows behind one answer row (its model, bucket and version)."""
    raw = p.raw
    m = (raw["model"] == row["model"]) & (raw["ts"] >= lo) & (raw["ts"] < hi)
    if step_ms is not None:
        m &= (raw["ts"] // step_ms) * step_ms == row["ts"]
    if "version" in row.index:
        m &= raw["version"] == row["version"]
    return raw[m]


@pytest.mark.parametrize("step_ms", [None, HOUR_MS, 600_000])
@pytest.mark.parametrize("by_version", [False, True])
def test_fleet_latency_matches_duckdb_within_the_percentile_bound(
    pipeline: Pipeline, step_ms: int | None, by_version: bool
) -> None:
    """The Fleet page and latency rules read these numbers; Pinot's must be DuckDB's (exact
    counts, errors and means; percentiles within the documented one-rank bound)."""
    for models in MODEL_LISTS:
        for late in (False, True):
            lo, hi = _window(pipeline, late)
            kw = {"step_ms": step_ms, "by_version": by_version}
            a = pipeline.duck.fleet_latency(models, lo, hi, **kw)
            b = pipeline.pinot.fleet_latency(models, lo, hi, **kw)
            assert len(a) >= len(models) and set(a["model"]) == set(models)
            assert list(b.columns) == list(a.columns)
            exact = [c for c in a.columns if not c.startswith("p")]
            pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=False, rtol=1e-9)
            for i, row in a.iterrows():
                values = _raw_of(pipeline, row, lo, hi, step_ms)["latency_ms"].to_numpy()
                assert len(values) == row["count"]
                for q in LATENCY_QUANTILES:
                    col = f"p{round(q * 100)}"
                    _assert_within_rank_bound(b[col][i], row[col], values, q)


def test_fleet_latency_of_one_version(pipeline: Pipeline) -> None:
    """A rule with ``version:`` asks the fleet for that version only; the other models keep
    their row with count 0, as the per-model query answers."""
    lo, hi = pipeline.start_ms, pipeline.end_ms
    for version in ("v3", "2.0-rc.1"):
        a = pipeline.duck.fleet_latency(ALL, lo, hi, version=version)
        b = pipeline.pinot.fleet_latency(ALL, lo, hi, version=version)
        exact = [c for c in a.columns if not c.startswith("p")]
        pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=False, rtol=1e-9)
        assert (a["count"] > 0).sum() == 1 and list(a["model"]) == sorted(ALL)


@pytest.mark.parametrize("step_ms", [None, HOUR_MS])
def test_fleet_score_matches_duckdb(pipeline: Pipeline, step_ms: int | None) -> None:
    """Score rules on the fleet path: counts/min/max exact, mean/std as the per-model
    answers (one-pass std), percentiles within the bound."""
    for models in MODEL_LISTS:
        for version in (None, "v1"):
            lo, hi = pipeline.start_ms, pipeline.end_ms
            kw = {"step_ms": step_ms, "version": version}
            a = pipeline.duck.fleet_score(models, lo, hi, **kw)  # type: ignore[arg-type]
            b = pipeline.pinot.fleet_score(models, lo, hi, **kw)  # type: ignore[arg-type]
            assert list(b.columns) == list(a.columns) and len(a) > 0
            exact = ["model", "count", "min", "max"] + (["ts"] if step_ms else [])
            pd.testing.assert_frame_equal(b[exact], a[exact], check_exact=True)
            pd.testing.assert_frame_equal(b[["mean", "std"]], a[["mean", "std"]], rtol=1e-7)
            for i, row in a[a["count"] > 0].iterrows():
                values = _raw_of(pipeline, row.drop("version", errors="ignore"), lo, hi, step_ms)
                if version is not None:
                    values = values[values["version"] == version]
                for q, col in ((0.5, "p50"), (0.9, "p90")):
                    _assert_within_rank_bound(b[col][i], row[col], values["score"].to_numpy(), q)
    for store in (pipeline.duck, pipeline.pinot):
        with pytest.raises(ValueError, match="cannot be grouped by version"):
            store.fleet_score(ALL, pipeline.start_ms, pipeline.end_ms, by_version=True)


@pytest.mark.parametrize("step_ms", [None, HOUR_MS, 600_000])
def test_fleet_feature_summaries_and_histograms_match_exactly(
    pipeline: Pipeline, step_ms: int | None
) -> None:
    """Drift, null-rate and contract rules read these frames; both stores keep the same
    sums, so the answers agree to the last count."""
    for models in MODEL_LISTS:
        for by_version, version in ((False, None), (True, None), (False, "v1")):
            lo, hi = pipeline.start_ms, pipeline.end_ms
            kw = {"step_ms": step_ms, "by_version": by_version, "version": version}
            a = pipeline.duck.fleet_feature_summary(models, lo, hi, **kw)  # type: ignore[arg-type]
            b = pipeline.pinot.fleet_feature_summary(models, lo, hi, **kw)  # type: ignore[arg-type]
            assert len(a) > 0
            pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-9)
            cols = ["model", "feature", "kind", "count", "nulls", "specials", "valid"]
            pd.testing.assert_frame_equal(b[cols], a[cols], check_exact=True)
            a = pipeline.duck.fleet_feature_histograms(models, lo, hi, **kw)  # type: ignore[arg-type]
            b = pipeline.pinot.fleet_feature_histograms(models, lo, hi, **kw)  # type: ignore[arg-type]
            assert len(a) > 0
            pd.testing.assert_frame_equal(b, a, check_exact=True)


def test_empty_fleet_answers_have_duckdbs_shape(pipeline: Pipeline) -> None:
    """A window after the data, an empty model list and models without rows: same columns,
    dtypes and rows (latency and score keep a count-0 row per model, as per-model)."""
    after = (pipeline.end_ms + HOUR_MS, pipeline.end_ms + 2 * HOUR_MS)
    asks = [
        ("fleet_latency", {}),
        ("fleet_latency", {"by_version": True}),
        ("fleet_latency", {"step_ms": 60_000}),
        ("fleet_score", {}),
        ("fleet_score", {"step_ms": 60_000}),
        ("fleet_feature_summary", {"by_version": True}),
        ("fleet_feature_histograms", {"step_ms": 60_000}),
    ]
    for models in (ALL, [], ["no_such_model", "fraud"]):
        for ask, kw in asks:
            a = getattr(pipeline.duck, ask)(models, *after, **kw)
            b = getattr(pipeline.pinot, ask)(models, *after, **kw)
            pd.testing.assert_frame_equal(b, a, check_index_type=False, obj=f"{ask} {kw}")
            a = getattr(pipeline.duck, ask)(models, pipeline.start_ms, pipeline.end_ms, **kw)
            b = getattr(pipeline.pinot, ask)(models, pipeline.start_ms, pipeline.end_ms, **kw)
            assert len(b) == len(a) and dict(b.dtypes) == dict(a.dtypes), (ask, kw, models)
    one_row_each = pipeline.pinot.fleet_latency(["no_such_model", "fraud"], *after)
    assert list(one_row_each["model"]) == ["fraud", "no_such_model"]
    assert list(one_row_each["count"]) == [0, 0] and one_row_each["p99"].isna().all()


def test_names_that_would_need_escaping_never_reach_pinot(pipeline: Pipeline) -> None:
    """A model list holds names from configs: a quote is refused by name validation on
    both stores before any SQL is sent, so no name is ever escaped into the IN list."""
    lo, hi = pipeline.start_ms, pipeline.end_ms
    bad = ["fraud", "x' OR '1'='1"]
    before = pipeline.pinot.sent
    for store in (pipeline.duck, pipeline.pinot):
        for ask in ("fleet_latency", "fleet_score", "fleet_feature_summary"):
            with pytest.raises(InvalidName):
                getattr(store, ask)(bad, lo, hi)
        with pytest.raises(InvalidName):
            store.fleet_feature_histograms(["fraud"], lo, hi, version="v1' OR 'a'='a")
        with pytest.raises(ValueError, match="empty window"):
            store.fleet_latency(["fraud"], hi, lo)
    assert pipeline.pinot.sent == before


def test_a_fleet_answer_past_pinots_group_limit_comes_back_whole(pipeline: Pipeline) -> None:
    """One fleet query groups many models' rows: an answer of more groups than Pinot's
    ``numGroupsLimit`` (100,000) must come back whole and equal to DuckDB's, not cut short
    or refused (Pinot counts the limit per segment, and a segment holds at most the
    tables' 100,000-row flush threshold)."""
    lo, hi = pipeline.start_ms, pipeline.end_ms
    a = pipeline.duck.fleet_feature_histograms(WIDE, lo, hi, step_ms=60_000)
    assert len(a) > 100_000
    before = pipeline.pinot.sent
    b = pipeline.pinot.fleet_feature_histograms(WIDE, lo, hi, step_ms=60_000)
    assert pipeline.pinot.sent - before == 1
    pd.testing.assert_frame_equal(b, a, check_exact=True)


def _rules(models: list[str]) -> list[RuleSpec]:
    """Per model: a p99 rule per version, a null-rate rule and a score rule (three frames)."""
    out = []
    for m in models:
        common = {"model": m, "window": timedelta(minutes=30), "detector_type": "threshold"}
        out += [
            RuleSpec(
                name="p99",
                metric="latency.p99",
                group_by=("version",),
                detector_params={"above": 1e6},
                **common,
            ),
            RuleSpec(
                name="nulls",
                metric="feature.null_rate",
                features=("amount",),
                detector_params={"above": 0.9},
                **common,
            ),
            RuleSpec(name="score", metric="score.mean", detector_params={"above": 2.0}, **common),
        ]
    return out


def _sent_per_tick(store: object, pinot: CountingPinot, models: list[str]) -> tuple[int, int]:
    """(statements sent to Pinot, instances judged) by one rules tick over ``models``."""
    ev = Evaluator(_rules(models), store, references={}, clock=FakeClock(T0))  # type: ignore[arg-type]
    ev.tick(T0)  # first rows of each model are asked once, then remembered
    before = pinot.sent
    report = ev.tick(T0 + timedelta(minutes=1))
    assert not report.errors, report.errors
    return pinot.sent - before, report.instances


def test_the_rules_engine_asks_pinot_as_many_queries_for_five_models_as_for_two(
    pipeline: Pipeline,
) -> None:
    """With the fleet queries on PinotStore the rules engine takes the fleet path (one
    query per frame for every model), as on DuckDB; without them it asked per model."""
    few = ["fraud", ODD]
    fleet_few, judged_few = _sent_per_tick(pipeline.pinot, pipeline.pinot, few)
    fleet_all, judged_all = _sent_per_tick(pipeline.pinot, pipeline.pinot, ALL)
    per_model, judged_per_model = _sent_per_tick(PerModel(pipeline.pinot), pipeline.pinot, ALL)
    assert judged_all > judged_few and judged_per_model == judged_all
    assert fleet_few == fleet_all, (fleet_few, fleet_all)
    assert fleet_all <= 3  # latency, feature summary and score frames: one query each
    assert per_model >= 3 * len(ALL), per_model


def _fleet_table(store: object, refs: dict[str, ModelReference], root: Path) -> pd.DataFrame:
    """The Fleet page's table over ``store``, from an empty cache."""
    clear_caches()
    handle = StoreHandle.of(store)  # type: ignore[arg-type]
    ctx = PageContext(
        settings=Settings(db=root / "unused.duckdb", state_dir=root / "state"),
        handle=handle,
        queries=Queries(handle),
        clock=FakeClock(T0),
        window=TimeWindow.ending(T0, timedelta(hours=HOURS)),
        model=None,
        references=refs,
    )
    return fleet_page.fleet_table(ctx)


def test_the_fleet_page_asks_pinot_a_few_queries_for_the_whole_fleet(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The Fleet page asked Pinot three queries per model (3,000 at 1,000 models); with the
    fleet queries it asks a fixed few, and shows what the per-model queries show."""
    before = pipeline.pinot.sent
    table = _fleet_table(pipeline.pinot, pipeline.refs, tmp_path)
    fleet_sent = pipeline.pinot.sent - before
    before = pipeline.pinot.sent
    per_model = _fleet_table(PerModel(pipeline.pinot), pipeline.refs, tmp_path)
    per_model_sent = pipeline.pinot.sent - before
    models = sorted([*ALL, *WIDE])
    assert sorted(table["model"]) == models
    assert fleet_sent <= 5, fleet_sent  # models, last_seen and three fleet queries
    assert per_model_sent >= 2 * len(models), per_model_sent
    keys = ["model", "status", "qps", "p99 ms"]
    pd.testing.assert_frame_equal(
        table[keys].sort_values("model").reset_index(drop=True),
        per_model[keys].sort_values("model").reset_index(drop=True),
    )
    assert table["p99 ms"].notna().sum() == len(models)
