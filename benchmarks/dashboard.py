"""Time to render the dashboard's Model page: 30 days of one-minute data, 200 features.

    .venv/bin/python benchmarks/dashboard.py [--days 30] [--features 200] [--runs 3]

Builds a DuckDB file (rows written straight with SQL: 43,200 minutes × 200 features × 8
non-empty bins ≈ 69 M histogram rows), then renders the Model page with streamlit's AppTest
(the same script run a browser session triggers) with a 30-day range. *Cold* clears every
cached query first; *warm* re-runs with the cache filled. Goals: warm < 1 s, cold < 3 s.
The peer figure is the same store queries run directly, uncached (what the page would cost
without the query layer), so ``cold / direct`` shows the page's own overhead; *before* is the
former two-scan drift path (whole-window table + bucketed series) run the same way.
Saves a bar chart of the four times under artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelhealth.clock import to_epoch_ms  # noqa: E402
from modelhealth.dashboard.context import TimeWindow  # noqa: E402
from modelhealth.ingestion.reference import FeatureReference, ModelReference  # noqa: E402
from modelhealth.store.duckdb import DuckDBStore  # noqa: E402

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

T0 = datetime(2026, 11, 20, tzinfo=UTC)
BINS = 8  # non-empty bins per feature-minute (of 10)


def build(root: Path, days: int, n_features: int, rpm: int) -> Path:
    db = root / "bench.duckdb"
    end = to_epoch_ms(T0)
    minutes = days * 1440
    start = end - minutes * 60_000
    store = DuckDBStore(db)
    con = store._con  # benchmark-only bulk load; the SDK path is measured elsewhere
    t = time.perf_counter()
    con.execute(
        "INSERT INTO inferences SELECT ? + m * 60000 + r * (60000 // ?), 'bench', "
        "CASE WHEN r % 10 = 0 THEN 'v2' ELSE 'v1' END, 'host-' || (r % 3), "
        "'r' || m || '-' || r, random(), 5 + 30 * random() * random(), 0 "
        "FROM range(?) t(m), range(?) u(r)",
        [start, rpm, minutes, rpm],
    )
    con.execute(
        "INSERT INTO feature_stats SELECT ? + m * 60000, 'bench', 'v1', "
        "'f' || lpad(f::VARCHAR, 3, '0'), "
        "'numeric', ?, 0, 0, ?, ? * 5.0, ? * 30.0, 0.0, 10.0 FROM range(?) t(m), range(?) g(f)",
        [start, rpm, rpm, rpm, rpm, minutes, n_features],
    )
    drift_from = minutes - 3 * 1440  # the last 3 days of 10 features shift by two bins
    con.execute(
        "INSERT INTO feature_bins SELECT ? + m * 60000, 'bench', 'v1', "
        "'f' || lpad(f::VARCHAR, 3, '0'), "
        "(b + CASE WHEN f < 10 AND m >= ? THEN 2 ELSE 1 END)::INTEGER AS bin, '', "
        "1 + ((m + f + b) % 3) FROM range(?) t(m), range(?) g(f), range(?) h(b)",
        [start, drift_from, minutes, n_features, BINS],
    )
    rows = con.execute("SELECT count(*) FROM feature_bins").fetchone()[0]
    store.close()
    print(
        f"built {db.name}: {rows:,} histogram rows, {minutes * rpm:,} inferences "
        f"in {time.perf_counter() - t:.1f} s, {db.stat().st_size / 1e6:.0f} MB"
    )
    edges = tuple(float(x) for x in np.linspace(1, 9, 9))
    ref = ModelReference(
        model="bench",
        features={
            f"f{i:03d}": FeatureReference(
                name=f"f{i:03d}", kind="numeric", edges=edges, counts=(0.0,) + (1.0,) * 8 + (0.0,)
            )
            for i in range(n_features)
        },
        score_edges=tuple(float(x) for x in np.linspace(0.1, 0.9, 9)),
        score_counts=(1.0,) * 10,
    )
    ref.save(root / "bench.json")
    (root / "rules").mkdir()
    (root / "rules" / "bench.yaml").write_text(
        "model: bench\nreference: ../bench.json\nrules:\n  - name: p99\n    metric: latency.p99\n"
        "    window: 30m\n    detector: {type: threshold, above: 100}\n"
    )
    return db


def direct(db: Path, days: int, scans: int) -> float:
    """The page's store queries, uncached and without Streamlit.

    ``scans=1`` is what the page does now: ONE bucketed histogram query feeds both the drift
    column (buckets summed) and the sparklines; ``scans=2`` is the former shape (a whole-window
    ``drift_table`` query plus a bucketed ``drift_series`` query), kept as the before figure.
    """
    from datetime import timedelta

    from modelhealth.drift.compare import (
        Baseline,
        drift_series,
        drift_series_from_histograms,
        drift_table,
        drift_table_from_histograms,
        profile_histograms,
    )

    ref = ModelReference.load(db.parent / "bench.json")
    w = TimeWindow.ending(T0, timedelta(days=days))
    store = DuckDBStore(db, read_only=True)
    scope = w.scope("bench")
    step = max(w.step_ms, (w.end_ms - w.start_ms) // 24)
    t = time.perf_counter()
    store.latency(scope, step_ms=w.step_ms)
    store.latency(scope)
    store.score(scope, step_ms=w.step_ms)
    store.score_histogram(scope, ref.score_edges)
    store.feature_summary(scope)
    if scans == 1:
        hist = store.feature_histograms(scope, step_ms=step)
        base = profile_histograms(ref)
        drift_table_from_histograms(hist, base, ref, ["psi"])
        drift_series_from_histograms(hist, base, ref, "psi")
    else:
        drift_table(store, scope, Baseline.profile(ref), ["psi"])
        drift_series(store, scope, Baseline.profile(ref), "psi", step)
    store.feature_histograms(scope, ["f000"])
    elapsed = time.perf_counter() - t
    store.close()
    return elapsed


def render(db: Path, runs: int) -> tuple[list[float], list[float], list[float], object]:
    from streamlit.testing.v1 import AppTest

    from modelhealth.dashboard.data import clear_caches

    sys.argv = [
        "app.py", "--db", str(db), "--rules", str(db.parent / "rules"), "--now", T0.isoformat(),
    ]  # fmt: skip
    app = str(ROOT / "modelhealth" / "dashboard" / "app.py")
    at = AppTest.from_file(app, default_timeout=600)
    at.session_state["range"] = "Last 30 days"
    at.run()
    at.switch_page("views/model.py")
    cold, warm, cpu = [], [], []
    for _ in range(runs):
        clear_caches()
        t, c = time.perf_counter(), time.process_time()
        at.run()
        cold.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert not at.exception, at.exception
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
    return cold, warm, cpu, at


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.3f}" for x in xs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--days",
        type=int,
        default=30,
        help="days of one-minute data, the page's range (default 30)",
    )
    p.add_argument("--features", type=int, default=200, help="features of the model (default 200)")
    p.add_argument("--rpm", type=int, default=10, help="requests per minute (default 10)")
    p.add_argument(
        "--runs", type=int, default=3, help="cold + warm renders, and direct runs (default 3)"
    )
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp), a.days, a.features, a.rpm)
        peer = min(direct(db, a.days, scans=1) for _ in range(a.runs))
        before = min(direct(db, a.days, scans=2) for _ in range(a.runs))
        cold, warm, cpu, at = render(db, a.runs)
        table = at.dataframe[0].value
        print(
            f"Model page, {a.days} days × 1-min data, {a.features} features, "
            f"{len(table)} rows in the feature table (top drift: {table['feature'].iloc[0]})"
        )
        print(f"  cold render  median {np.median(cold):.3f} s  (runs {_fmt(cold)})  goal < 3 s")
        print(f"  cold render  CPU {np.median(cpu):.3f} s (both cores; steady under machine load)")
        print(f"  warm render  median {np.median(warm):.3f} s  (runs {_fmt(warm)})  goal < 1 s")
        print(f"  peer: the same queries direct, uncached {peer:.3f} s (one histogram scan)")
        print(
            f"  before: the former two-scan drift queries direct {before:.3f} s "
            f"({before / peer:.2f}x the one-scan peer)"
        )
        print(
            f"  ratios: cold/direct {np.median(cold) / peer:.2f}  "
            f"warm/direct {np.median(warm) / peer:.3f}"
        )
    chart = bar_chart(
        "dashboard",
        f"Model page, {a.days} days x {a.features} features (seconds, lower is better)",
        ["cold render", "warm render", "direct queries (peer)", "before: two-scan direct"],
        {"seconds": [float(np.median(cold)), float(np.median(warm)), peer, before]},
        ylabel="seconds",
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
