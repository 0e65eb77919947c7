"""Drift of 100 features x 1M rows against a reference: modelhealth vs Evidently, one run.

    EVIDENTLY_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 .venv/bin/python benchmarks/drift.py \
        [--rows 1000000] [--features 100] [--evidently-rows N] [--bins 100]

Ours, two ways, both against the reference profile (bins fixed from the training data):
  * SDK path: ``Monitor.log_batch`` aggregates into an in-memory DuckDB, then one
    ``drift_table`` call (one histogram query for all features);
  * histogram path: bin the raw columns with numpy and run the vectorised metrics.
Evidently 0.7.23 ``Report([DataDriftPreset()])`` on the raw frames: for > 1,000 rows it uses
the normed Wasserstein distance (numeric, threshold 0.1) and Jensen-Shannon (categorical,
0.1). We use the same two metrics and thresholds, so per-feature conclusions are comparable.
Needs the ``bench`` extra (evidently==0.7.23, pandas 2.3.x).

The headline ratios (Evidently / ours) are always measured in this run on the same rows:
with ``--evidently-rows N`` below ``--rows`` (Evidently is slow), both sides are measured on
the first N rows for them, and the Evidently time scaled linearly to ``--rows`` is printed
only as a labelled estimate. Saves a bar chart of the same-size times under
artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from datetime import UTC, datetime, timedelta

os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.drift.compare import Baseline, drift_table
from modelhealth.drift.metrics import bin_positions, compute, is_drifted
from modelhealth.ingestion.reference import build_reference, numeric_bin_index
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CATS = np.array(["a", "b", "c", "d", "e", "f"])
JS_THRESHOLD = 0.1 / np.sqrt(np.log(2))
"""Evidently's JS is in nats (scipy base=None) with threshold 0.1; ours is base 2."""
LOGNORMAL_MEAN_OVER_STD = 1.0 / np.sqrt(np.exp(0.25) - 1)  # lognormal(0, 0.5)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_data(rows: int, features: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; 10 % categorical. Shifts are spread from none to large,
    in normed-Wasserstein units {0, 0.02, 0.05, 0.2, 0.5}, so most verdicts are clear-cut."""
    rng = np.random.default_rng(seed)
    shifts = [0.0, 0.02, 0.05, 0.2, 0.5]
    ref, cur = {}, {}
    n_cat = features // 10
    for i in range(features - n_cat):
        s = shifts[i % len(shifts)]
        kind = i % 3
        if kind == 0:  # normal, mean shift
            ref[f"num_{i}"] = rng.normal(0, 1, rows).astype(np.float64)
            cur[f"num_{i}"] = rng.normal(s, 1, rows)
        elif kind == 1:  # lognormal, scaled: normed W of a scale c is (c - 1) * mean / std
            ref[f"num_{i}"] = rng.lognormal(0, 0.5, rows)
            cur[f"num_{i}"] = rng.lognormal(0, 0.5, rows) * (1 + s / LOGNORMAL_MEAN_OVER_STD)
        else:  # integer-valued counts
            ref[f"num_{i}"] = rng.poisson(20, rows).astype(np.float64)
            cur[f"num_{i}"] = rng.poisson(20 * (1 + s / 4), rows).astype(np.float64)
    base_p = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    for j in range(n_cat):
        tilt = [0.0, 0.1, 0.6, 1.5][j % 4]
        p = base_p * np.exp(-tilt * np.arange(6) / 5)
        ref[f"cat_{j}"] = CATS[rng.choice(6, rows, p=base_p)]
        cur[f"cat_{j}"] = CATS[rng.choice(6, rows, p=p / p.sum())]
    return pd.DataFrame(ref), pd.DataFrame(cur)


def ours_sdk(ref_profile, cur: pd.DataFrame) -> tuple[pd.Series, float, float]:
    store = DuckDBStore()
    mon = Monitor(
        DuckDBSink(store), {"bench": ref_profile}, bucket=timedelta(hours=1), clock=FakeClock(T0)
    )
    n = len(cur)
    start = to_epoch_ms(T0)
    ts = start + (np.arange(n) * 3_600_000 // n)  # the rows span one hour
    chunk = 200_000
    t = time.perf_counter()
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        mon.log_batch(
            model="bench",
            version="v1",
            features={c: cur[c].to_numpy()[lo:hi] for c in cur.columns},
            score=np.zeros(hi - lo),
            latency_ms=np.ones(hi - lo),
            ts_ms=ts[lo:hi],
        )
        mon.flush()
        say(f"  SDK ingest {hi:,}/{n:,} rows")
    ingest = time.perf_counter() - t
    t = time.perf_counter()
    table = drift_table(
        store,
        Scope("bench", start, start + 3_600_000),
        Baseline.profile(ref_profile),
        metrics=["wasserstein_norm", "js"],
        thresholds={"js": JS_THRESHOLD},
    )
    query = time.perf_counter() - t
    store.close()
    return _verdicts(table, ref_profile), ingest, query


def _verdicts(table: pd.DataFrame, ref_profile) -> pd.Series:
    out = {}
    for name, f in ref_profile.features.items():
        metric = "wasserstein_norm" if f.kind == "numeric" else "js"
        row = table[(table.feature == name) & (table.metric == metric)]
        out[name] = bool(row.drifted.iloc[0])
    return pd.Series(out)


def ours_histograms(ref_profile, cur: pd.DataFrame) -> tuple[pd.Series, float]:
    """Raw columns -> histograms in the reference bins -> vectorised metrics."""
    t = time.perf_counter()
    num = [n for n, f in ref_profile.features.items() if f.kind == "numeric"]
    cat = [n for n, f in ref_profile.features.items() if f.kind == "categorical"]
    verdicts = {}
    if num:
        k = max(ref_profile.features[n].n_bins for n in num)
        rh, ch, pos = np.zeros((len(num), k)), np.zeros((len(num), k)), np.zeros((len(num), k))
        for i, n in enumerate(num):
            f = ref_profile.features[n]
            v = cur[n].to_numpy()
            counts = np.bincount(numeric_bin_index(v, np.asarray(f.edges)), minlength=f.n_bins)
            rh[i, : f.n_bins], ch[i, : f.n_bins] = f.counts, counts
            p = bin_positions(f.edges)
            pos[i, : p.size], pos[i, p.size :] = p, p[-1]
        values = compute("wasserstein_norm", rh, ch, positions=pos)
        verdicts.update(zip(num, is_drifted("wasserstein_norm", values), strict=True))
    for n in cat:
        f = ref_profile.features[n]
        codes = pd.Categorical(cur[n], categories=list(f.categories)).codes
        counts = np.bincount(np.where(codes < 0, len(f.categories), codes), minlength=f.n_bins)
        js = compute("js", f.counts, counts)
        verdicts[n] = bool(is_drifted("js", js, JS_THRESHOLD)[0])
    return pd.Series(verdicts), time.perf_counter() - t


def evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[pd.Series, float]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    elapsed = time.perf_counter() - t
    verdicts = {}
    for m in snapshot.dict()["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift"):
            verdicts[cfg["column"]] = float(m["value"]) >= float(cfg["threshold"])
    return pd.Series(verdicts), elapsed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--rows", type=int, default=1_000_000,
        help="rows of the reference and of the current frame (default 1,000,000)",
    )  # fmt: skip
    ap.add_argument(
        "--features", type=int, default=100,
        help="features, 10%% of them categorical (default 100)",
    )  # fmt: skip
    ap.add_argument(
        "--evidently-rows", type=int, default=None,
        help="rows given to Evidently (default: --rows); when fewer, the headline ratios are "
        "measured with ours on the same rows and the full-size figure is a labelled estimate",
    )  # fmt: skip
    ap.add_argument("--bins", type=int, default=100, help="reference quantile bins (default 100)")
    args = ap.parse_args(argv)
    ev_rows = min(args.evidently_rows or args.rows, args.rows)
    say(f"generating {args.rows:,} rows x {args.features} features (reference and current)")
    ref, cur = make_data(args.rows, args.features)
    t = time.perf_counter()
    profile = build_reference("bench", ref, bins=args.bins)
    t_profile = time.perf_counter() - t
    say(f"reference profile built in {t_profile:.1f}s")

    say("ours: histogram path")
    hist_verdicts, t_hist = ours_histograms(profile, cur)
    say("ours: SDK log_batch -> DuckDB -> drift_table")
    sdk_verdicts, t_ingest, t_query = ours_sdk(profile, cur)
    t_sdk = t_ingest + t_query

    # Ours on exactly the rows Evidently sees, so the headline ratios are measured, not scaled.
    same_hist, same_ingest, same_query = t_hist, t_ingest, t_query
    same_hist_verdicts, same_sdk_verdicts = hist_verdicts, sdk_verdicts
    if ev_rows != args.rows:
        say(f"ours: both paths again on the first {ev_rows:,} rows (the rows Evidently gets)")
        same_hist_verdicts, same_hist = ours_histograms(profile, cur.iloc[:ev_rows])
        same_sdk_verdicts, same_ingest, same_query = ours_sdk(profile, cur.iloc[:ev_rows])
    same_sdk = same_ingest + same_query
    say(f"Evidently DataDriftPreset on {ev_rows:,} rows (this is the slow part)")
    gc.collect()
    ev_verdicts, t_ev = evidently(ref.iloc[:ev_rows], cur.iloc[:ev_rows])

    common = same_hist_verdicts.index.intersection(ev_verdicts.index)
    agree_hist = float((same_hist_verdicts[common] == ev_verdicts[common]).mean())
    agree_sdk = float((same_sdk_verdicts[common] == ev_verdicts[common]).mean())
    print(f"\nDrift, {args.features} features x {args.rows:,} rows vs a reference of the same size")
    print(f"  reference profile (once, at training time): {t_profile:8.2f} s")
    print(f"  ours, histogram path (bin + metrics):       {t_hist:8.2f} s")
    print(
        f"  ours, SDK path: ingest {t_ingest:.2f} s + drift_table {t_query:.3f} s = {t_sdk:8.2f} s"
    )
    if ev_rows == args.rows:
        print(f"  Evidently DataDriftPreset:                  {t_ev:8.2f} s")
    else:
        print(f"  Evidently DataDriftPreset: not run on {args.rows:,} rows (--evidently-rows)")
        print(f"\nMeasured on the same first {ev_rows:,} rows, both sides in this run:")
        print(f"  ours, histogram path:                       {same_hist:8.3f} s")
        print(
            f"  ours, SDK path: ingest {same_ingest:.2f} s + drift_table {same_query:.3f} s = "
            f"{same_sdk:8.2f} s"
        )
        print(f"  Evidently DataDriftPreset:                  {t_ev:8.2f} s")
    print(f"  ratio Evidently / ours-histogram:   {t_ev / same_hist:8.1f}x  (measured)")
    print(f"  ratio Evidently / ours-SDK (total): {t_ev / same_sdk:8.1f}x  (measured)")
    print(f"  ratio Evidently / drift_table query only: {t_ev / same_query:8.1f}x  (measured)")
    if ev_rows != args.rows:
        scale = args.rows / ev_rows
        est = t_ev * scale
        print(
            f"ESTIMATE, not measured: Evidently's {ev_rows:,}-row time scaled linearly x{scale:g}"
            f" to {args.rows:,} rows = {est:.1f} s; against ours measured on {args.rows:,} rows:"
        )
        print(f"  est. ratio Evidently / ours-histogram:   ~{est / t_hist:.0f}x")
        print(f"  est. ratio Evidently / ours-SDK (total): ~{est / t_sdk:.0f}x")
        print(f"  est. ratio Evidently / drift_table query only: ~{est / t_query:.0f}x")
    print(
        f"  drifted features on {ev_rows:,} rows: ours {int(same_hist_verdicts.sum())}, "
        f"SDK {int(same_sdk_verdicts.sum())}, Evidently {int(ev_verdicts[common].sum())} "
        f"of {len(common)}"
    )
    print(
        f"  per-feature agreement with Evidently: histogram {agree_hist:.1%}, SDK {agree_sdk:.1%}"
    )
    differ = [n for n in common if same_hist_verdicts[n] != ev_verdicts[n]]
    if differ:
        print(f"  disagreeing features: {', '.join(differ)}")
    chart = bar_chart(
        "drift",
        f"Drift of {args.features} features, {ev_rows:,} rows, both measured in one run "
        "(seconds, lower is better)",
        [
            "ours: histogram path",
            "ours: SDK ingest + query",
            "ours: drift_table query",
            "Evidently (peer)",
        ],
        {"seconds": [same_hist, same_sdk, same_query, t_ev]},
        ylabel="seconds",
        log=True,
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
