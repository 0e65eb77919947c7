"""Rules engine at fleet scale: 10,000 rules (200 models x 50 features) per tick on DuckDB.

Prints seconds per tick and store queries per tick for two store shapes, in the same run:
  * per-model  — today's QueryBackend (one query per frame and model, shared by its 50 rules);
  * fleet      — the proposed ``fleet_*`` methods (one query per frame for all 200 models),
                 implemented here on a DuckDBStore subclass until the store grows them.

    .venv/bin/python benchmarks/rules.py [--models 200] [--features 50] [--minutes 60]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from modelhealth.clock import to_epoch_ms
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.reference import FeatureReference, ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import finish_summary
from modelhealth.store.duckdb import DuckDBStore

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
N_BINS = 11


class FleetDuckDBStore(DuckDBStore):
    """The proposed multi-model queries (SQL to move into store/duckdb.py)."""

    def _fleet_where(self, models, start_ms, end_ms, version):
        clauses, params = (
            ["list_contains(?, model)", "ts >= ?", "ts < ?"],
            [list(models), start_ms, end_ms],
        )
        if version is not None:
            clauses.append("version = ?")
            params.append(version)
        return " AND ".join(clauses), params

    def fleet_feature_summary(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms=None,
        by_version=False,
        version=None,
    ) -> pd.DataFrame:
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT model, {ts_sel}{v_sel}feature, any_value(kind) AS kind, "
            "sum(count) AS count, sum(nulls) AS nulls, sum(specials) AS specials, "
            'sum(valid) AS valid, sum("sum") AS sum, sum(sum_sq) AS sum_sq, '
            'min("min") AS min, max("max") AS max '
            f"FROM feature_stats WHERE {where}" + self._group("model", ts_grp, v_grp, "feature")
        )
        df = self._query(sql, params)
        if "bucket" in df.columns:
            df = df.rename(columns={"bucket": "ts"})
        return finish_summary(df)

    def fleet_feature_histograms(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms=None,
        by_version=False,
        version=None,
    ) -> pd.DataFrame:
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT model, {ts_sel}{v_sel}feature, bin, any_value(label) AS label, "
            f'sum("count") AS count FROM feature_bins WHERE {where}'
            + self._group("model", ts_grp, v_grp, "feature", "bin")
        )
        df = self._query(sql, params)
        if "bucket" in df.columns:
            df = df.rename(columns={"bucket": "ts"})
        return df.astype({"bin": "int64", "count": "int64"})


def seed(store: DuckDBStore, models: int, features: int, minutes: int) -> None:
    rng = np.random.default_rng(0)
    t0 = to_epoch_ms(T0)
    ts = t0 - 60_000 * np.arange(minutes, 0, -1)
    names = [f"f{j:02d}" for j in range(features)]
    for m in range(models):
        n = len(ts) * features
        stats = pd.DataFrame(
            {
                "ts": np.repeat(ts, features),
                "model": f"m{m:03d}",
                "version": "v1",
                "feature": np.tile(names, len(ts)),
                "kind": "numeric",
                "count": 100,
                "nulls": rng.binomial(100, 0.01 if m % 50 else 0.3, n),
                "specials": 0,
                "valid": 95,
                "sum": rng.normal(500, 5, n),
                "sum_sq": rng.normal(5000, 5, n),
                "min": 0.0,
                "max": 10.0,
            }
        )
        probs = np.full(N_BINS, 1 / N_BINS)
        counts = rng.multinomial(100, probs, size=n)
        bins = pd.DataFrame(
            {
                "ts": np.repeat(stats["ts"].to_numpy(), N_BINS),
                "model": f"m{m:03d}",
                "version": "v1",
                "feature": np.repeat(stats["feature"].to_numpy(), N_BINS),
                "bin": np.tile(np.arange(N_BINS, dtype=np.int32), n),
                "label": "",
                "count": counts.reshape(-1),
            }
        )
        store.append(EventBatch(feature_stats=stats, feature_bins=bins[bins["count"] > 0]))


def make_rules(models: int, features: int) -> tuple[list[RuleSpec], dict[str, ModelReference]]:
    rules, refs = [], {}
    counts = tuple([100.0] * N_BINS)
    for m in range(models):
        model = f"m{m:03d}"
        refs[model] = ModelReference(
            model=model,
            features={
                f"f{j:02d}": FeatureReference(
                    f"f{j:02d}",
                    "numeric",
                    edges=tuple(float(e) for e in range(N_BINS - 1)),
                    counts=counts,
                )
                for j in range(features)
            },
        )
        for j in range(features):
            drift = j % 2 == 1
            rules.append(
                RuleSpec(
                    name=f"{'drift' if drift else 'nulls'}-f{j:02d}",
                    model=model,
                    metric="feature.drift.psi" if drift else "feature.null_rate",
                    window=timedelta(minutes=30),
                    detector_type="threshold",
                    detector_params={"above": 0.25 if drift else 0.1},
                    features=(f"f{j:02d}",),
                    hold_for=timedelta(minutes=5),
                )
            )
    return rules, refs


def run(store: DuckDBStore, rules, refs, ticks: int) -> tuple[float, float, int]:
    ev = Evaluator(rules, store, references=refs)
    secs, queries, firing = [], [], 0
    for i in range(ticks):
        t = time.perf_counter()
        rep = ev.tick(T0 - timedelta(minutes=ticks - 1 - i))
        secs.append(time.perf_counter() - t)
        queries.append(rep.queries)
        firing = len(rep.firing)
        assert not rep.errors, list(rep.errors.items())[:3]
    return float(np.median(secs)), float(np.median(queries)), firing


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--minutes", type=int, default=60)
    p.add_argument("--ticks", type=int, default=3)
    a = p.parse_args()
    t = time.perf_counter()
    store = FleetDuckDBStore()
    seed(store, a.models, a.features, a.minutes)
    print(
        f"seeded {a.models} models x {a.features} features x {a.minutes} min "
        f"in {time.perf_counter() - t:.1f}s"
    )
    rules, refs = make_rules(a.models, a.features)
    fleet = run(store, rules, refs, a.ticks)
    per_model_store = DuckDBStore.__new__(DuckDBStore)
    per_model_store.__dict__.update(store.__dict__)  # same connection, no fleet_* methods
    per_model = run(per_model_store, rules, refs, a.ticks)
    print(f"{len(rules)} rules per tick")
    for label, (s, q, f) in (("fleet", fleet), ("per-model", per_model)):
        print(
            f"  {label:10} {s:6.2f} s/tick  {q:6.0f} queries/tick  "
            f"({len(rules) / max(q, 1):.0f} rules/query, {f} firing)"
        )
    print(
        f"  fleet vs per-model: {per_model[0] / fleet[0]:.1f}x faster, "
        f"{per_model[1] / max(fleet[1], 1):.0f}x fewer queries"
    )


if __name__ == "__main__":
    main()
