"""Time to render every dashboard page for a fleet: 1,000 models × 7 days, ~20 features each.

    .venv/bin/python benchmarks/dashboard_fleet.py [--models 1000] [--days 7] [--runs 2]

Builds a DuckDB file (rows written straight with SQL, as ``dashboard.py`` does): each model
serves ``--rpm`` requests a minute from 3 hosts over 2-3 versions (every third model has a
v3), and flushes its ``--features`` feature statistics every ``--feature-minutes`` (4
non-empty histogram bins each); every 25th model drifts on three features over the last day,
every 97th gets a slow p99 over the last 6 hours and every 200th went silent 2 hours ago. Each
model has a rules file naming its reference profile (so the Fleet page computes its worst
drift), and the rules state holds an alert for every drifting, slow or silent model.

Then it renders every page with streamlit's AppTest (the same script a browser session runs),
fleet-wide over 24 hours and 7 days, and per model on one model. *Cold* clears every cached
query first; *warm* re-runs with the cache filled. Each render counts the store queries it
made. The peer is the Fleet page's numbers queried directly: *after* the fleet queries the
page makes now (3 store queries whatever the fleet's size), *before* the former loop of 3
queries per model (timed on ``--before-models`` models; scaled to the whole fleet on a line
marked as an estimate when that is fewer). ``--db FILE`` keeps the store (and its rules and
state folders beside it) to look at with ``modelhealth dashboard``; an existing one is reused.
Saves a bar chart of the Fleet page times under artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelhealth.clock import to_epoch_ms  # noqa: E402
from modelhealth.dashboard.context import TimeWindow  # noqa: E402
from modelhealth.ingestion.reference import FeatureReference, ModelReference  # noqa: E402
from modelhealth.rules.state import AlertStateStore  # noqa: E402
from modelhealth.store.duckdb import DuckDBStore  # noqa: E402
from modelhealth.types import Alert, AlertState  # noqa: E402

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

T0 = datetime(2026, 11, 20, tzinfo=UTC)
BINS = 4  # non-empty bins per feature row (of 10)
DRIFT_EVERY, SLOW_EVERY, SILENT_EVERY = 25, 97, 200


def name(i: int) -> str:
    return f"m{i:04d}"


def build(root: Path, models: int, days: int, n_features: int, rpm: int, fmin: int) -> Path:
    """The store, one rules file and reference per model, and a rules state folder."""
    db = root / "fleet.duckdb"
    end = to_epoch_ms(T0)
    minutes = days * 1440
    start = end - minutes * 60_000
    store = DuckDBStore(db)
    con = store._con  # benchmark-only bulk load; the SDK path is measured elsewhere
    t = time.perf_counter()
    con.execute(
        "INSERT INTO inferences SELECT ? + m * 60000 + r * (60000 // ?), "
        "'m' || lpad(i::VARCHAR, 4, '0'), "
        "CASE WHEN i % 3 = 0 AND m % 10 = 1 THEN 'v3' WHEN m % 5 = 0 THEN 'v2' ELSE 'v1' END, "
        "'host-' || ((m + r) % 3), 'r' || i || '-' || m || '-' || r, random(), "
        "(5 + i % 40) * (1 + random() * random()) "
        "* CASE WHEN i % ? = 0 AND m >= ? THEN 8 ELSE 1 END, 0 "
        "FROM range(?) s(i), range(?) t(m), range(?) u(r) "
        "WHERE NOT (i % ? = 7 AND m >= ?)",
        [start, rpm, SLOW_EVERY, minutes - 360, models, minutes, rpm, SILENT_EVERY, minutes - 120],
    )
    slots = minutes // fmin
    drift_from = slots - 1440 // fmin  # the last day of 3 features shifts by two bins
    con.execute(
        "INSERT INTO feature_stats SELECT ? + s * ?, 'm' || lpad(i::VARCHAR, 4, '0'), "
        "CASE WHEN s % 5 = 0 THEN 'v2' ELSE 'v1' END, 'f' || lpad(f::VARCHAR, 2, '0'), "
        "'numeric', ?, 0, 0, ?, ? * 5.0, ? * 30.0, 0.0, 10.0 "
        "FROM range(?) a(i), range(?) t(s), range(?) g(f) WHERE NOT (i % ? = 7 AND s >= ?)",
        [
            start,
            fmin * 60_000,
            rpm * fmin,
            rpm * fmin,
            rpm * fmin,
            rpm * fmin,
            models,
            slots,
            n_features,
            SILENT_EVERY,
            slots - 120 // fmin,
        ],
    )
    con.execute(
        "INSERT INTO feature_bins SELECT ? + s * ?, 'm' || lpad(i::VARCHAR, 4, '0'), "
        "CASE WHEN s % 5 = 0 THEN 'v2' ELSE 'v1' END, 'f' || lpad(f::VARCHAR, 2, '0'), "
        "(b + CASE WHEN i % ? = 0 AND f < 3 AND s >= ? THEN 4 ELSE 3 END)::INTEGER, '', "
        "1 + ((s + f + b) % 3) FROM range(?) a(i), range(?) t(s), range(?) g(f), range(?) h(b) "
        "WHERE NOT (i % ? = 7 AND s >= ?)",
        [
            start,
            fmin * 60_000,
            DRIFT_EVERY,
            drift_from,
            models,
            slots,
            n_features,
            BINS,
            SILENT_EVERY,
            slots - 120 // fmin,
        ],
    )
    counts = [
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("inferences", "feature_bins")
    ]
    store.close()
    print(
        f"built {db.name}: {models:,} models, {counts[0]:,} inferences, {counts[1]:,} "
        f"histogram rows in {time.perf_counter() - t:.1f} s, {db.stat().st_size / 1e6:.0f} MB",
        file=sys.stderr,
    )
    _configs(root, models, n_features)
    _state(root / "state", models)
    return db


def _configs(root: Path, models: int, n_features: int) -> None:
    """A reference profile and a one-rule config per model (a fleet's config folder)."""
    edges = tuple(float(x) for x in np.linspace(1, 9, 9))
    counts = (0.0, 0.0, 0.0) + (1.0,) * BINS + (0.0,) * (10 - 3 - BINS)
    (root / "references").mkdir(exist_ok=True)
    (root / "rules").mkdir(exist_ok=True)
    for i in range(models):
        m = name(i)
        ModelReference(
            model=m,
            features={
                f"f{f:02d}": FeatureReference(
                    name=f"f{f:02d}", kind="numeric", edges=edges, counts=counts
                )
                for f in range(n_features)
            },
            score_edges=tuple(float(x) for x in np.linspace(0.1, 0.9, 9)),
            score_counts=(1.0,) * 10,
        ).save(root / "references" / f"{m}.json")
        (root / "rules" / f"{m}.yaml").write_text(
            f"model: {m}\nreference: ../references/{m}.json\nrules:\n  - name: p99\n"
            "    metric: latency.p99\n    window: 30m\n"
            "    detector: {type: threshold, above: 100}\n    severity: critical\n"
        )


def _state(state_dir: Path, models: int) -> None:
    """Open alerts (and their history) for the drifting, slow and silent models."""
    state = AlertStateStore(state_dir / "alerts.json")
    for i in range(models):
        m = name(i)
        if i % DRIFT_EVERY == 0:
            labels = {
                "alertname": "feature-drift",
                "model": m,
                "feature": "f00",
                "severity": "warning",
            }
            since = T0 - timedelta(hours=20)
        elif i % SLOW_EVERY == 0 or i % SILENT_EVERY == 7:
            labels = {"alertname": "p99", "model": m, "severity": "critical"}
            since = T0 - timedelta(hours=5)
        else:
            continue
        alert = Alert(
            labels=labels,
            annotations={"summary": f"{labels['alertname']} on {m}"},
            state=AlertState.FIRING,
            value=1.0,
            active_at=since,
            fired_at=since,
        )
        state.alerts[(f"{m}/{labels['alertname']}", alert.fingerprint)] = alert
        state.record(f"{m}/{labels['alertname']}", alert, since)
    state.save()


class QueryCount:
    """Counts the SQL queries every DuckDBStore of this process runs (the pages' and ours)."""

    def __init__(self) -> None:
        self.n = 0
        original = DuckDBStore._query

        def counted(store: DuckDBStore, sql: str, params: Any = ()) -> Any:
            self.n += 1
            return original(store, sql, params)

        DuckDBStore._query = counted  # type: ignore[method-assign]  # benchmark-only probe


def direct(db: Path, root: Path, hours: int, before_models: int) -> dict[str, float]:
    """The Fleet page's numbers straight from the store, uncached: *after* its three fleet
    queries (and the one drift table over them), *before* three queries per model."""
    from modelhealth.dashboard.fleetdata import fleet_drift
    from modelhealth.dashboard.sources import load_configs
    from modelhealth.drift.compare import Baseline, drift_table

    refs = load_configs(root / "rules").references
    w = TimeWindow.ending(T0, timedelta(hours=hours))
    step = max(w.step_ms, (w.end_ms - w.start_ms) // 48)
    store = DuckDBStore(db, read_only=True)
    models = store.models()

    def fleet_queries() -> float:
        t = time.perf_counter()
        store.fleet_latency(models, w.start_ms, w.end_ms)
        store.fleet_latency(models, w.start_ms, w.end_ms, step_ms=step)
        hist = store.fleet_feature_histograms(models, w.start_ms, w.end_ms)
        fleet_drift(hist, {m: refs[m] for m in models if m in refs}, "psi")
        return time.perf_counter() - t

    fleet_queries()  # the first read of the file pays the disk, not the query shape
    after = fleet_queries()
    sample = models[:before_models]
    t = time.perf_counter()
    for m in sample:
        scope = w.scope(m)
        store.latency(scope)
        store.latency(scope, step_ms=step)
        if m in refs:
            drift_table(store, scope, Baseline.profile(refs[m]), ["psi"])
    before = time.perf_counter() - t
    store.close()
    return {"after": after, "before": before, "sampled": len(sample), "models": len(models)}


PAGES = ("fleet", "model", "drift", "canary", "alerts", "configs")


def render(db: Path, root: Path, runs: int, ranges: list[str]) -> list[dict[str, Any]]:
    """Every page under AppTest: cold (caches cleared) then warm, ``runs`` times each."""
    from streamlit.testing.v1 import AppTest

    from modelhealth.dashboard.data import clear_caches

    count = QueryCount()
    sys.argv = [
        "app.py",
        "--db",
        str(db),
        "--rules",
        str(root / "rules"),
        "--state-dir",
        str(root / "state"),
        "--now",
        T0.isoformat(),
    ]
    app = str(ROOT / "modelhealth" / "dashboard" / "app.py")
    out = []
    for span in ranges:
        at = AppTest.from_file(app, default_timeout=1800)
        at.session_state["range"] = span
        at.run()
        for page in PAGES if span == ranges[0] else ("fleet",):
            if page != "fleet":
                at.switch_page(f"views/{page}.py")
            for _ in range(runs):
                for kind in ("cold", "warm"):
                    if kind == "cold":
                        clear_caches()
                    count.n = 0
                    t = time.perf_counter()
                    at.run()
                    took = time.perf_counter() - t
                    assert not at.exception, at.exception
                    out.append(
                        {"page": page, "range": span, "kind": kind, "s": took, "queries": count.n}
                    )
                    print(f"  {page} {span} {kind}: {took:.2f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", type=int, default=50, help="models in the fleet (default 50)")
    p.add_argument("--days", type=int, default=7, help="days of data (default 7)")
    p.add_argument("--features", type=int, default=20, help="features per model (default 20)")
    p.add_argument("--rpm", type=int, default=1, help="requests per minute per model (default 1)")
    p.add_argument(
        "--feature-minutes",
        type=int,
        default=10,
        help="minutes between feature-statistics rows of a model (default 10)",
    )
    p.add_argument("--runs", type=int, default=1, help="cold + warm renders per page (default 1)")
    p.add_argument(
        "--before-models",
        type=int,
        default=50,
        help="models the per-model loop (before) is timed on, scaled to the fleet (default 50)",
    )
    p.add_argument("--db", type=Path, help="keep the store here (reused when it exists)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = a.db.parent if a.db else Path(tmp)
        db = a.db if a.db and a.db.exists() else None
        if db is None:
            root.mkdir(parents=True, exist_ok=True)
            db = build(root, a.models, a.days, a.features, a.rpm, a.feature_minutes)
            if a.db and db != a.db:
                db.rename(a.db)
                db = a.db
        store = DuckDBStore(db, read_only=True)
        n_models = len(store.models())
        store.close()
        peer = {h: direct(db, root, h, a.before_models) for h in (24, 24 * a.days)}
        ranges = ["Last 24 hours", *(["Last 7 days"] if a.days >= 7 else [])]
        rows = render(db, root, a.runs, ranges)
    _report(rows, peer, n_models, a)


def _report(rows: list[dict[str, Any]], peer: dict[int, dict[str, float]], n: int, a: Any) -> None:
    def med(page: str, span: str, kind: str, key: str = "s") -> float:
        return float(
            np.median(
                [r[key] for r in rows if (r["page"], r["range"], r["kind"]) == (page, span, kind)]
            )
        )

    print(
        f"Dashboard pages, {n:,} models × {a.days} days, {a.features} features each "
        f"(median of {a.runs} run(s); seconds, store queries)"
    )
    for page, span in dict.fromkeys((r["page"], r["range"]) for r in rows):
        print(
            f"  {page:8s} {span:14s} cold {med(page, span, 'cold'):7.2f} s "
            f"({med(page, span, 'cold', 'queries'):.0f} queries)   "
            f"warm {med(page, span, 'warm'):6.2f} s"
        )
    for hours, d in peer.items():
        scale = d["models"] / max(d["sampled"], 1)
        print(
            f"  Fleet numbers direct, {hours} h: fleet queries {d['after']:.2f} s (3 queries); "
            f"one model at a time {d['before']:.2f} s on {d['sampled']:.0f} models "
            f"(3 queries each)"
        )
        if scale > 1:
            print(
                f"    estimate, scaled x{scale:.1f} to {d['models']:.0f} models: "
                f"{d['before'] * scale:.1f} s, {d['before'] * scale / d['after']:.0f}x the "
                "fleet queries (estimated)"
            )
        else:
            print(
                f"    ratio one-at-a-time / fleet queries: {d['before'] / d['after']:.1f}x "
                "(measured)"
            )
    span = "Last 24 hours"
    print(
        f"  ratio Fleet page cold / its queries direct (24 h): "
        f"{med('fleet', span, 'cold') / peer[24]['after']:.2f}"
    )
    chart = bar_chart(
        "dashboard_fleet",
        f"Fleet page, {n:,} models, last 24 h (seconds, lower is better)",
        ["page cold", "page warm", "fleet queries direct", "per-model queries direct"],
        {
            "seconds": [
                med("fleet", span, "cold"),
                med("fleet", span, "warm"),
                peer[24]["after"],
                peer[24]["before"],
            ]
        },
        ylabel="seconds",
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
