"""End-to-end pipeline figures: Kafka throughput from one Python process, and freshness.

    .venv/bin/python benchmarks/pipeline.py --rate 20000 --seconds 20

Both figures are measured for the batched sink (``{"rows": [...]}``, ``--rows-per-message``
rows per Kafka message, split into rows by modelhealth's Pinot decoder) and, in the same run, for
the one-row-per-message mode (``rows_per_message=1``, plain objects, same decoder) as the
baseline of the ratio.

1. **Sustained events/s into Kafka**: one pre-aggregated batch of inference rows written with
   :class:`KafkaSink` (compression, per-model keys, acks awaited), next to the same batch into
   the embedded DuckDB store as the in-process peer.
2. **Freshness** (produce -> queryable in Pinot) at ``--rate`` events/s: rows are sent in
   100 ms ticks; a poller thread counts Pinot rows every ~50 ms, and a tick's freshness is the
   first poll that sees all of its rows minus the tick's send time. Reports p50/p99 and the
   rate actually reached (one Python producer may fall short of the asked rate).

Runs against the local services (``modelhealth services up``) in a private namespace that is
dropped at the end. Prints figures and saves two bar charts (events/s into Kafka next to the
DuckDB peer; freshness p50/p99 per mode) under artifacts/benchmarks/; asserts nothing.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import numpy as np
import pandas as pd

from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import (
    DEFAULT_ROWS_PER_MESSAGE,
    KafkaSink,
    default_compression,
)
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.store.pinot import PinotStore

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

TICK_S = 0.1


def rows(n: int, start_ms: int, rng: np.random.Generator) -> pd.DataFrame:
    models = np.array(["ranker", "fraud", "churn", "search"], dtype=object)
    return pd.DataFrame(
        {
            "ts": start_ms + np.sort(rng.integers(0, 100, n)).astype(np.int64),
            "model": models[rng.integers(0, 4, n)],
            "version": "v1",
            "host": "host-a",
            "request_id": "",
            "score": rng.random(n),
            "latency_ms": rng.lognormal(2.5, 0.5, n),
            "is_error": np.zeros(n, np.int32),
        }
    )


def throughput(namespace: str, n: int, rng: np.random.Generator, rows_per_message: int) -> float:
    """Events/s of one ``KafkaSink.write`` of ``n`` rows, acks included."""
    batch = EventBatch(inferences=rows(n, 1_767_225_600_000, rng))
    sink = KafkaSink(namespace=namespace, rows_per_message=rows_per_message)
    sink.write(EventBatch(inferences=batch.inferences.head(100)))  # connect + metadata
    t = time.perf_counter()
    sink.write(batch)  # returns after Kafka acknowledged every row
    rate = n / (time.perf_counter() - t)
    sink.close()
    return rate


def duckdb_rate(n: int, rng: np.random.Generator) -> float:
    batch = EventBatch(inferences=rows(n, 1_767_225_600_000, rng))
    store = DuckDBStore()
    t = time.perf_counter()
    DuckDBSink(store).write(batch)
    rate = n / (time.perf_counter() - t)
    store.close()
    return rate


def freshness(
    namespace: str, rate: int, seconds: float, rng: np.random.Generator, rows_per_message: int
) -> dict[str, float]:
    store = PinotStore(namespace=namespace)
    base = store.count("inferences")
    polls: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            n = store.count("inferences")
            polls.append((time.perf_counter(), n - base))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    sink = KafkaSink(namespace=namespace, linger_ms=5, rows_per_message=rows_per_message)
    per_tick = max(1, int(rate * TICK_S))
    sent: list[tuple[float, int]] = []  # (send time, cumulative rows)
    total = 0
    t0 = time.perf_counter()
    next_tick = t0
    while time.perf_counter() - t0 < seconds:
        frame = rows(per_tick, 1_767_225_600_000 + total, rng)
        sink.write(EventBatch(inferences=frame))  # acked on return
        total += per_tick
        sent.append((time.perf_counter(), total))
        next_tick += TICK_S
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    sink.close()
    store.wait_for_rows("inferences", base + total, timeout=120)
    time.sleep(0.2)
    stop.set()
    poller.join()
    store.close()
    lags = []
    for when, cumulative in sent:
        seen = next((t for t, n in polls if t >= when and n >= cumulative), None)
        if seen is not None:
            lags.append(seen - when)
    return {
        "asked_rate": rate,
        "reached_rate": total / elapsed,
        "rows": total,
        "p50_s": float(np.percentile(lags, 50)),
        "p99_s": float(np.percentile(lags, 99)),
        "max_s": float(np.max(lags)),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--rate", type=int, default=20_000,
        help="events/s asked for in the freshness run (default 20,000)",
    )  # fmt: skip
    p.add_argument(
        "--seconds", type=float, default=20.0,
        help="length of each freshness run, per mode (default 20 s)",
    )  # fmt: skip
    p.add_argument(
        "--throughput-rows", type=int, default=100_000,
        help="inference rows written in the throughput run, per mode (default 100,000)",
    )  # fmt: skip
    p.add_argument(
        "--rows-per-message", type=int, default=DEFAULT_ROWS_PER_MESSAGE,
        help=f"rows per Kafka message in batched mode (default {DEFAULT_ROWS_PER_MESSAGE})",
    )  # fmt: skip
    args = p.parse_args(argv)
    rng = np.random.default_rng(1)
    namespace = f"bench{uuid.uuid4().hex[:6]}_"
    init_pinot(namespace, tables=["inferences"])
    modes = {f"batched ({args.rows_per_message} rows/message)": args.rows_per_message}
    modes["one row per message (baseline)"] = 1
    try:
        n = args.throughput_rows
        duck = duckdb_rate(n, rng)
        rates = {mode: throughput(namespace, n, rng, k) for mode, k in modes.items()}
        (batched, base) = rates.values()
        print(f"events/s into Kafka from 1 process ({n:,} rows, acks awaited, "
              f"{default_compression()}):")  # fmt: skip
        for mode, rate in rates.items():
            print(f"  {mode:34s} {rate:>10,.0f} ev/s  ({rate / duck:.2f}x DuckDB)")
        print(f"  {'DuckDBSink (in-process peer)':34s} {duck:>10,.0f} ev/s")
        print(f"  batched / one-row = {batched / base:.1f}x")
        chart = bar_chart(
            "pipeline_throughput",
            f"Events/s from one process, {n:,} rows (higher is better)",
            [*rates, "DuckDBSink (in-process peer)"],
            {"events/s": [*rates.values(), duck]},
            ylabel="events/s",
            log=True,
        )
        print(f"chart: {chart}")
        print(f"freshness (produce -> queryable in Pinot), {args.rate:,} ev/s asked, goal < 5 s:")
        fresh = {}
        for mode, k in modes.items():
            f = fresh[mode] = freshness(namespace, args.rate, args.seconds, rng, k)
            print(
                f"  {mode:34s} reached {f['reached_rate']:>7,.0f} ev/s ({f['rows']:,} rows): "
                f"p50 {f['p50_s']:.2f} s, p99 {f['p99_s']:.2f} s, max {f['max_s']:.2f} s"
            )
        chart = bar_chart(
            "pipeline_freshness",
            f"Produce -> queryable in Pinot at {args.rate:,} ev/s asked (s, lower is better)",
            list(fresh),
            {
                "p50 s": [f["p50_s"] for f in fresh.values()],
                "p99 s": [f["p99_s"] for f in fresh.values()],
            },
            ylabel="seconds",
        )
        print(f"chart: {chart}")
    finally:
        drop_pinot(namespace, tables=["inferences"])


if __name__ == "__main__":
    main()
