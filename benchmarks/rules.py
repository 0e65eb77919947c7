"""Rules engine at fleet scale: 10,000 rules (200 models x 50 features) per tick on DuckDB.

Prints seconds (wall and CPU) and store queries per tick for three store shapes, ticked
interleaved in the same run so machine load hits each alike:
  * fleet      — DuckDBStore's ``fleet_*`` methods (one query per frame for all 200 models,
                 models matched by ``list_contains(?, model)``);
  * fleet-semi — the same with a semi-join ``model IN (SELECT unnest(?))`` (shipped before
                 it was found to keep native memory per query: scheduler_memory.py);
  * per-model  — the plain QueryBackend (one query per frame and model, shared by its rules).

    .venv/bin/python benchmarks/rules.py [--models 200] [--features 50] [--minutes 60]
        [--ticks 3] [--order model|ts]

The peer is ``per-model`` (no fleet queries), measured in the same run on the same store.
Saves a bar chart of wall and CPU seconds per tick under artifacts/benchmarks/.
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
from modelhealth.store.duckdb import FLEET_MODELS, DuckDBStore

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
N_BINS = 11


class PerModelStore:
    """The same store without its ``fleet_*`` methods: one query per frame and model."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name.startswith("fleet_"):
            raise AttributeError(name)
        return getattr(self._store, name)


class SemiJoinStore(DuckDBStore):
    """The fleet queries' former model match, a semi-join on the unnested list, on the same
    connection (fast too, but DuckDB 2.0 keeps about 1 KB per such query)."""

    @staticmethod
    def _fleet_where(
        models: Sequence[str], start_ms: int, end_ms: int, version: str | None
    ) -> tuple[str, list[object]]:
        sql, params = DuckDBStore._fleet_where(models, start_ms, end_ms, version)
        assert FLEET_MODELS in sql
        return sql.replace(FLEET_MODELS, SEMI_JOIN), params

    @classmethod
    def sharing(cls, store: DuckDBStore) -> SemiJoinStore:
        out = cls.__new__(cls)
        out.__dict__.update(store.__dict__)
        return out


SEMI_JOIN = "model IN (SELECT unnest(?::VARCHAR[]))"


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


def order_by_time(store: DuckDBStore) -> None:
    """Rewrite the tables in (ts, model) order: the layout live ingestion produces, where each
    minute's rows of every model sit together and zone maps cannot skip other models."""
    con = store._con  # benchmark-only
    for table in ("feature_stats", "feature_bins"):
        con.execute(f"CREATE TABLE _sorted AS SELECT * FROM {table} ORDER BY ts, model")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE _sorted RENAME TO {table}")


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


def run(stores: dict[str, object], rules, refs, ticks: int) -> dict[str, tuple[float, ...]]:
    """Tick every store shape in turn (interleaved, so machine load hits each alike).

    Per shape: median wall s/tick, median CPU s/tick (this process; robust on a busy box),
    median queries/tick, and the number of firing alerts (must agree across shapes)."""
    evs = {k: Evaluator(rules, s, references=refs) for k, s in stores.items()}
    acc: dict[str, list[tuple[float, float, int, int]]] = {k: [] for k in stores}
    for i in range(ticks):
        for k, ev in evs.items():
            w, c = time.perf_counter(), time.process_time()
            rep = ev.tick(T0 - timedelta(minutes=ticks - 1 - i))
            acc[k].append(
                (time.perf_counter() - w, time.process_time() - c, rep.queries, len(rep.firing))
            )
            assert not rep.errors, list(rep.errors.items())[:3]
    return {
        k: (
            float(np.median([r[0] for r in rows])),
            float(np.median([r[1] for r in rows])),
            float(np.median([r[2] for r in rows])),
            rows[-1][3],
        )
        for k, rows in acc.items()
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", type=int, default=200, help="models seeded (default 200)")
    p.add_argument(
        "--features", type=int, default=50,
        help="features per model; one rule each, so rules = models x features (default 50)",
    )  # fmt: skip
    p.add_argument(
        "--minutes", type=int, default=60, help="minutes of one-minute data seeded (default 60)"
    )
    p.add_argument(
        "--ticks", type=int, default=3, help="ticks per store shape, interleaved (default 3)"
    )
    p.add_argument(
        "--order", choices=("model", "ts"), default="model",
        help="row layout: clustered by model (bulk load) or by time (live ingestion)",
    )  # fmt: skip
    a = p.parse_args(argv)
    t = time.perf_counter()
    store = DuckDBStore()
    seed(store, a.models, a.features, a.minutes)
    if a.order == "ts":
        order_by_time(store)
    print(
        f"seeded {a.models} models x {a.features} features x {a.minutes} min "
        f"({a.order}-ordered) in {time.perf_counter() - t:.1f}s"
    )
    rules, refs = make_rules(a.models, a.features)
    stores = {
        "fleet": store,
        "fleet-semi": SemiJoinStore.sharing(store),
        "per-model": PerModelStore(store),
    }
    res = run(stores, rules, refs, a.ticks)
    print(f"{len(rules)} rules per tick, median of {a.ticks} interleaved ticks")
    for label, (s, cpu, q, f) in res.items():
        print(
            f"  {label:10} {s:6.2f} s/tick  {cpu:6.2f} cpu-s/tick  {q:6.0f} queries/tick  "
            f"({len(rules) / max(q, 1):.0f} rules/query, {f} firing)"
        )
    fleet, per_model = res["fleet"], res["per-model"]
    print(
        "  fleet vs per-model: "
        f"{per_model[0] / fleet[0]:.2f}x wall, {per_model[1] / fleet[1]:.2f}x cpu, "
        f"{per_model[2] / max(fleet[2], 1):.0f}x fewer queries"
    )
    print("  fleet-semi = fleet with a semi-join on the unnested model list (before)")
    chart = bar_chart(
        f"rules_{a.order}",
        f"{len(rules):,} rules per tick ({a.models} models x {a.features} features), "
        f"median of {a.ticks} (lower is better)",
        [f"{k}{' (peer)' if k == 'per-model' else ''}, {v[2]:.0f} queries" for k, v in res.items()],
        {"wall s/tick": [v[0] for v in res.values()], "CPU s/tick": [v[1] for v in res.values()]},
        ylabel="seconds per tick",
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
