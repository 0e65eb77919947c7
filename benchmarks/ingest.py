"""Ingestion throughput: events/s through the SDK into DuckDB (1M events, 50 features).

    .venv/bin/python benchmarks/ingest.py [--events 1000000] [--features 50]

Measures the columnar path (``Monitor.log_batch``) and the per-event path (``Monitor.log``,
on a sample), and splits the columnar time into SDK aggregation vs the DuckDB insert, so the
report says where the time goes. A peer is measured in the same run: plain pandas
``DataFrame.describe`` + ``np.histogram`` per feature on the same data (what a hand-rolled
monitoring job would do), to put the SDK's cost in context.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]


class _CountingSink:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--events", type=int, default=1_000_000, help="events logged (default 1,000,000)"
    )
    ap.add_argument(
        "--features", type=int, default=50, help="features per event, 1/5 categorical (default 50)"
    )
    ap.add_argument(
        "--batch", type=int, default=100_000, help="events per log_batch call (default 100,000)"
    )
    ap.add_argument(
        "--per-event-sample", type=int, default=20_000,
        help="events sent one by one through Monitor.log (default 20,000)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n, f = args.events, args.features
    n_cat = f // 5
    print(f"generating {n:,} events x {f} features ({f - n_cat} numeric, {n_cat} categorical)…")
    num = {f"num_{i}": rng.normal(i, 1 + i % 3, n) for i in range(f - n_cat)}
    cats = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
    cat = {f"cat_{i}": cats[rng.integers(0, 6, n)] for i in range(n_cat)}
    features = {**num, **cat}
    ref = build_reference("bench", pd.DataFrame({k: v[:20_000] for k, v in features.items()}))
    ts = 1_767_225_600_000 + np.arange(n, dtype=np.int64) * 5  # 1M events over ~83 minutes
    score, latency = rng.random(n), rng.gamma(4, 3, n)

    def run(sink: object) -> float:
        mon = Monitor(sink, {"bench": ref})  # type: ignore[arg-type]
        t = time.perf_counter()
        for lo in range(0, n, args.batch):
            hi = min(lo + args.batch, n)
            mon.log_batch(
                model="bench",
                version="v1",
                features={k: v[lo:hi] for k, v in features.items()},
                score=score[lo:hi],
                latency_ms=latency[lo:hi],
                ts_ms=ts[lo:hi],
            )
            mon.flush()
        return time.perf_counter() - t

    t_sdk = run(_CountingSink())
    store = DuckDBStore()
    t_total = run(DuckDBSink(store))
    rows = store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0]
    assert rows == n, rows
    print(f"columnar log_batch -> DuckDB : {n / t_total:12,.0f} events/s  ({t_total:.2f}s)")
    print(f"  SDK validation+aggregation : {t_sdk:.2f}s ({100 * t_sdk / t_total:.0f}%)")
    print(
        f"  DuckDB insert              : {t_total - t_sdk:.2f}s "
        f"({100 * (t_total - t_sdk) / t_total:.0f}%)"
    )

    m = args.per_event_sample
    mon = Monitor(DuckDBSink(DuckDBStore()), {"bench": ref}, max_batch=10_000)
    rows_py = [
        {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in features.items()}
        for i in range(m)
    ]
    t = time.perf_counter()
    for i in range(m):
        mon.log(
            model="bench",
            version="v1",
            features=rows_py[i],
            score=float(score[i]),
            latency_ms=float(latency[i]),
            ts=int(ts[i]),
        )
    mon.flush()
    t_ev = time.perf_counter() - t
    print(f"per-event log() -> DuckDB    : {m / t_ev:12,.0f} events/s  (sample of {m:,})")

    frame = pd.DataFrame(num)
    t = time.perf_counter()
    frame.describe()
    for col in frame.columns:
        np.histogram(frame[col].to_numpy(), bins=10)
    for v in cat.values():
        pd.Series(v).value_counts()
    t_peer = time.perf_counter() - t
    print(
        f"peer: pandas describe+histogram on the same data: {t_peer:.2f}s "
        f"(SDK aggregation is {t_peer / t_sdk:.2f}x that speed, and also stores raw rows)"
    )
    chart = bar_chart(
        "ingest",
        f"SDK ingestion, {f} features (events/s, higher is better)",
        ["log_batch -> DuckDB", "SDK aggregation only", "per-event log()", "pandas peer"],
        {"events/s": [n / t_total, n / t_sdk, m / t_ev, n / t_peer]},
        ylabel="events/s",
        log=True,
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
