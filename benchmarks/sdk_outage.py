"""Per-call latency of ``Monitor.log()`` while Kafka is down, against a healthy DuckDB sink.

    .venv/bin/python benchmarks/sdk_outage.py [--events 200000] [--paced 20000 --rate 2000]
        [--stacks] [--sched] [--holds 50000]

``log()`` runs on a model server's hot path, once per inference, so what matters is its tail:
p99.9 and the worst call, not the mean. Each case runs a ``Monitor(background=True)`` and
times every ``log()`` call: flat out (``--events``, default 200,000) and at a steady request
rate (``--paced`` events, default 20,000, at ``--rate``, default 2,000/s). The outage case
points a real ``KafkaSink`` (kafka-python, its real ``max_block_ms``, default 30 s) at a dead
port (nothing listening), so the background flusher blocks on Kafka as it does in an outage;
the peer is the same Monitor writing to an in-memory DuckDB store, measured in the same run.

Printed per case: p50, p99, p99.9 and max of the calls, how many took > 10 ms and > 100 ms,
the worst calls (time since the case started) and, for each, what overlapped it: a garbage
collection (``gc.callbacks``: its generation, duration and the thread that ran it) or, with
``--stacks``, the main thread's stack sampled while the call was slow (a watchdog thread
reads ``sys._current_frames()`` every millisecond). Then the outage/healthy ratios, and
for the healthy Monitors ``stored + dropped + parked == logged`` (no event lost uncounted).
Saves one chart (the latency CDFs' tails).

What a slow call waits for, when no collection overlaps it: the GIL, held by the flusher's
own work in the same process. A C-level call holds it until it returns, and the flusher
made some that read the whole 50,000-event batch (``np.array`` of every event's feature
tuple: 40 ms); a ``log()`` waited that long (14-80 ms). The flush now reads the buffer
``batching.CHUNK_ROWS`` (4,096) events per call and releases the GIL between chunks, so a
call waits about one switch interval (5 ms) plus one chunk's work (``--holds`` lists a
flush's longest C-level calls in CPU time, which load on the box does not change). On a
2-core box that other work shares, a thread also waits for a core: ``--sched`` prints the
tail without each call's run-queue wait. Repeat runs before comparing (``nice -n -10``
helps on a busy box).
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from modelhealth.ingestion import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

try:
    from benchmarks.plotting import OUT
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import OUT  # type: ignore[no-redef]


@dataclass
class _Gc:
    """Every collection of the run: (start, end) perf_counter seconds, generation, thread."""

    spans: list[tuple[float, float, int, str]] = field(default_factory=list)
    _start: dict[int, float] = field(default_factory=dict)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        me = threading.get_ident()
        if phase == "start":
            self._start[me] = now
        elif me in self._start:
            name = threading.current_thread().name
            self.spans.append((self._start.pop(me), now, info["generation"], name))


class _Watchdog(threading.Thread):
    """Samples the main thread's stack while a ``log()`` call runs longer than ``slow_s``."""

    def __init__(self, slow_s: float) -> None:
        super().__init__(name="bench-watchdog", daemon=True)
        self.slow_s = slow_s
        self.main = threading.main_thread().ident
        self.call_start = 0.0  # perf_counter of the running call, 0 between calls
        self.call_no = -1
        self.stacks: dict[int, list[str]] = {}  # call number -> its first slow stack
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            time.sleep(0.001)
            start, no = self.call_start, self.call_no
            if start and no not in self.stacks and time.perf_counter() - start > self.slow_s:
                frames = sys._current_frames()
                if self.call_no != no:
                    continue
                names = {t.ident: t.name for t in threading.enumerate()}
                lines = []
                for ident, frame in frames.items():  # the main thread, and who held the GIL
                    if ident != self.ident and (ident == self.main or "flush" in names[ident]):
                        lines.append(f"{names.get(ident)}:\n")
                        lines += traceback.format_stack(frame, limit=6)
                self.stacks[no] = lines


class _NullSink:
    def write(self, batch: object) -> None:
        pass

    def close(self) -> None:
        pass


def _longest_holds(feats: list[dict[str, object]], n: int, top: int) -> None:
    """``--holds``: one flush of ``n`` buffered events on this thread, every C-level call it
    makes from Python timed in thread CPU time (``sys.setprofile``; load on the box does not
    count). A call that runs no Python code inside holds the GIL throughout: the longest of
    them bound how long a ``log()`` on another thread can wait for the flusher. Aggregation
    runs serially here so that its calls are seen too; pandas' Cython calls are not."""
    from modelhealth.ingestion import aggregate

    mon = Monitor(_NullSink(), max_batch=n + 1, flush_interval=timedelta(hours=1))
    for i in range(n):
        mon.log(model="bench", version="v1", features=feats[i % len(feats)], score=0.5,
                latency_ms=12.0, request_id=f"r-{i}")  # fmt: skip
    calls: list[tuple[float, str]] = []
    running: list[list[object]] = []  # [start ns, ran Python inside, frame, function]
    gcs: list[float] = []

    def profile(frame: object, event: str, arg: object) -> None:
        if event == "c_call":
            running.append([time.thread_time_ns(), False, frame, arg])
        elif event in ("c_return", "c_exception") and running:
            start, python, where, func = running.pop()
            if not python:
                name = getattr(func, "__qualname__", repr(func))
                place = f"{where.f_code.co_filename.rsplit('/', 1)[-1]}:{where.f_lineno}"  # type: ignore[attr-defined]
                calls.append(((time.thread_time_ns() - start) / 1e6, f"{place} {name}"))  # type: ignore[operator]
        elif event == "call":
            for call in running:
                call[1] = True

    def collected(phase: str, info: dict[str, int]) -> None:
        gcs.append(time.thread_time() if phase == "start" else time.thread_time() - gcs.pop())

    parallel, aggregate.PARALLEL_MIN_ROWS = aggregate.PARALLEL_MIN_ROWS, 1 << 62
    gc.collect()
    gc.callbacks.append(collected)
    cpu = time.thread_time()
    sys.setprofile(profile)
    try:
        mon.flush()
    finally:
        sys.setprofile(None)
        cpu = time.thread_time() - cpu
        gc.callbacks.remove(collected)
        aggregate.PARALLEL_MIN_ROWS = parallel
    calls.sort(reverse=True)
    print(f"one flush of {n:,} events: {1000 * cpu:.0f} ms CPU (profiled); longest C-level calls:")
    for ms, where in calls[:top]:
        print(f"    {ms:7.2f} ms  {where}")
    longest = f", longest {1000 * max(gcs):.1f} ms" if gcs else ""
    print(f"    garbage collections during the flush: {len(gcs)}{longest}")


def _dead_port() -> int:
    """A local port nothing listens on (bound, then released): connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(n: int, features: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` feature dicts (the runs cycle through at most 20,000: the Monitor copies each)."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, features)).round(4).tolist()
    cats = ["a", "b", "c", "d"]
    return [
        {**{f"f{j}": row[j] for j in range(features - 1)}, "country": cats[i % 4]}
        for i, row in enumerate(num)
    ]


def _run_case(
    name: str,
    make_sink: object,
    feats: list[dict[str, object]],
    n: int,
    rate: float,
    watchdog: _Watchdog | None,
    recorder: _Gc,
    sched: bool = False,
) -> dict[str, object]:
    sink = make_sink()  # type: ignore[operator]
    mon = Monitor(sink, background=not name.endswith("(sync)"))
    pool = len(feats)
    lat = np.empty(n, dtype=np.float64)
    at = np.empty(n, dtype=np.float64)
    queued = np.zeros(n, dtype=np.float64)  # run-queue wait within each call (--sched)
    fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY) if sched else -1
    log = mon.log
    gc.collect()
    recorder.spans.clear()
    t0 = time.perf_counter()
    period = 1.0 / rate if rate else 0.0
    step = max(n // 10, 1)
    for i in range(n):
        if period:
            due = t0 + i * period
            while (now := time.perf_counter()) < due:
                time.sleep(min(due - now, 0.001))
        if watchdog is not None:
            watchdog.call_no = i
            watchdog.call_start = time.perf_counter()
        if sched:
            q0 = int(os.pread(fd, 128, 0).split()[1])
        s = time.perf_counter()
        log(
            model="bench",
            version="v1",
            features=feats[i % pool],
            score=0.5,
            latency_ms=12.0,
            request_id=f"r-{i}",
        )
        e = time.perf_counter()
        if sched:
            queued[i] = (int(os.pread(fd, 128, 0).split()[1]) - q0) / 1e9
        if watchdog is not None:
            watchdog.call_start = 0.0
        lat[i], at[i] = e - s, s - t0
        if (i + 1) % step == 0:
            print(f"  {name}: {i + 1:,}/{n:,} logged", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    if sched:
        os.close(fd)
    gcs = [(a - t0, b - t0, g, who) for a, b, g, who in recorder.spans]
    case = {"name": name, "mon": mon, "sink": sink, "lat": lat, "at": at, "wall": wall, "gc": gcs}
    return case | ({"queued": queued} if sched else {})


def _report(case: dict[str, object], top: int, stacks: dict[int, list[str]]) -> dict[str, float]:
    lat_ms = case["lat"] * 1000  # type: ignore[operator]
    at = case["at"]
    p50, p99, p999 = np.percentile(lat_ms, [50, 99, 99.9])
    fig = {"p50": p50, "p99": p99, "p99.9": p999, "max": float(lat_ms.max())}
    n = lat_ms.size
    print(
        f"{case['name']:<24} {n:>8,} calls in {case['wall']:6.2f}s  p50 {p50 * 1000:6.1f} us"
        f"  p99 {p99 * 1000:7.1f} us  p99.9 {p999:8.3f} ms  max {fig['max']:8.1f} ms"
        f"  >10ms {int((lat_ms > 10).sum()):>4}  >100ms {int((lat_ms > 100).sum()):>3}"
    )
    if "queued" in case:
        off = lat_ms - case["queued"] * 1000  # type: ignore[operator]
        print(
            f"    less run-queue wait (no core free):  p99.9 {np.percentile(off, 99.9):8.3f} ms"
            f"  max {off.max():8.1f} ms  >10ms {int((off > 10).sum()):>4}"
            f"  >100ms {int((off > 100).sum()):>3}  (waited for a core: "
            f"{int((case['queued'] > 0.010).sum())} calls > 10 ms)"  # type: ignore[operator]
        )
    full = [g for g in case["gc"] if g[2] == 2]  # type: ignore[union-attr]
    if full:
        durs = [1000 * (b - a) for a, b, _, _ in full]
        print(f"    full (gen 2) collections: {len(full)}, longest {max(durs):.1f} ms")
    for i in np.argsort(lat_ms)[::-1][:top]:
        if lat_ms[i] <= 1.0:
            break
        start, end = at[i], at[i] + lat_ms[i] / 1000  # type: ignore[index]
        over = [
            f"gc gen{g} {1000 * (b - a):.1f} ms in {who}"
            for a, b, g, who in case["gc"]  # type: ignore[union-attr]
            if a < end and b > start and (b - a) > 0.001
        ]
        print(
            f"    call {i:>7,} at {start:8.3f}s: {lat_ms[i]:8.2f} ms"
            f"  overlaps: {'; '.join(over) or 'no collection > 1 ms'}"
        )
        if int(i) in stacks:
            print("      stacks sampled while it was slow (main thread, flusher):")
            for line in "".join(stacks[int(i)]).rstrip().splitlines():
                print(f"        {line}")
    return fig


def _accounting(case: dict[str, object], logged: int) -> None:
    """Where every logged event is. A healthy Monitor is closed first (its flush waits for
    nothing) and checked against the rows its store holds: stored + dropped + parked must
    be logged. An outage Monitor's flusher is still blocked on Kafka (up to max_block_ms),
    so its events are only broken down (tests/ingestion/test_log_never_blocks_s27h.py
    checks them once the flusher has given up)."""
    mon: Monitor = case["mon"]  # type: ignore[assignment]
    sink, st = case["sink"], mon.stats
    if isinstance(sink, DuckDBSink):
        mon.close()
        stored = int(sink.store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0])
        dropped = st.dropped_by_table.get("inferences", 0)
        ok = "ok" if stored + dropped + st.parked_total == logged else "MISMATCH"
        print(
            f"  {case['name']}: logged {logged:,} = stored {stored:,} + dropped {dropped:,}"
            f" + parked {st.parked_total:,} ({ok})"
        )
        return
    with mon._lock:
        buffered = len(mon._events)
        unsent = sum(b.inferences.shape[0] for b in mon._unsent)
    dropped = st.dropped_by_table.get("inferences", 0)
    print(
        f"  {case['name']}: logged {logged:,}: accepted {st.accepted:,} (buffered {buffered:,},"
        f" kept for retry {unsent:,}, the rest with the blocked flusher), dropped {dropped:,}"
        f" (refused when full, or cut from what was kept), parked {st.parked_total:,};"
        f" {st.flush_errors} flushes failed so far"
    )


def _cdf_chart(cases: list[dict[str, object]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    for case in cases:
        lat = np.sort(case["lat"] * 1000)  # type: ignore[operator]
        tail = 1.0 - np.arange(lat.size) / lat.size  # fraction of calls at least this slow
        ax.step(lat, tail, where="post", label=str(case["name"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("log() call latency (ms)", fontsize=8)
    ax.set_ylabel("fraction of calls >= x", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path = OUT / "sdk_outage.png"
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000, help="flat-out calls (default 200,000)")
    ap.add_argument("--paced", type=int, default=20_000, help="paced calls (default 20,000)")
    ap.add_argument("--rate", type=float, default=2_000, help="paced calls/s (default 2,000)")
    ap.add_argument("--features", type=int, default=10, help="features per event (default 10)")
    ap.add_argument(
        "--max-block-ms", type=int, default=30_000,
        help="KafkaSink max_block_ms, how long the flusher blocks on the dead broker"
        " (default 30,000, kafka-python's)",
    )  # fmt: skip
    ap.add_argument("--top", type=int, default=5, help="worst calls shown per case (default 5)")
    ap.add_argument(
        "--stacks", action="store_true",
        help="sample the main thread's stack during calls slower than 5 ms (default off: the"
        " watchdog thread competes for the GIL)",
    )  # fmt: skip
    ap.add_argument(
        "--sched", action="store_true",
        help="also read the main thread's run-queue wait around each call (Linux"
        " /proc/thread-self/schedstat, ~7 us a read, outside the timed call) and report the"
        " tail without it: what remains is time the thread slept, on the GIL or a lock (a"
        " GIL wait whose wake-ups find no free core counts partly as run-queue wait)",
    )  # fmt: skip
    ap.add_argument(
        "--holds", type=int, default=0, metavar="N",
        help="first flush N buffered events on the main thread and list its longest C-level"
        " calls, in thread CPU time (what holds the GIL longest; default 0: skip)",
    )  # fmt: skip
    ap.add_argument(
        "--sync", action="store_true",
        help="also run the Kafka-down case with background=False, the Monitor's default, whose"
        " log() flushes in the request thread (default off: each failing flush blocks a call"
        " for max_block_ms)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    from modelhealth.ingestion.kafka_sink import KafkaSink

    port = _dead_port()
    print(
        f"log() latency: {args.events:,} calls flat out, {args.paced:,} at {args.rate:,.0f}/s;"
        f" {args.features} features; Kafka sink on dead port {port}"
        f" (max_block_ms {args.max_block_ms:,}); peer: DuckDB in memory; Python"
        f" {sys.version.split()[0]}, switch interval {sys.getswitchinterval() * 1000:.0f} ms"
    )
    recorder = _Gc()
    gc.callbacks.append(recorder)
    watchdog = _Watchdog(0.005) if args.stacks else None
    if watchdog is not None:
        watchdog.start()

    def healthy() -> object:
        return DuckDBSink(DuckDBStore())

    def outage() -> object:
        return KafkaSink(f"127.0.0.1:{port}", max_block_ms=args.max_block_ms)

    feats = _events(min(max(args.events, args.paced, args.holds), 20_000), args.features)
    if args.holds:
        _longest_holds(feats, args.holds, args.top)
    runs = [
        ("healthy flat-out", healthy, args.events, 0.0),
        ("kafka-down flat-out", outage, args.events, 0.0),
        (f"healthy {args.rate:,.0f}/s", healthy, args.paced, args.rate),
        (f"kafka-down {args.rate:,.0f}/s", outage, args.paced, args.rate),
    ]
    if args.sync:
        runs.append(("kafka-down flat-out (sync)", outage, args.events, 0.0))
    cases, figs = [], {}
    for name, make, n, rate in runs:
        if n <= 0:
            continue
        if watchdog is not None:
            watchdog.stacks = {}
        case = _run_case(name, make, feats, n, rate, watchdog, recorder, args.sched)
        figs[name] = _report(case, args.top, watchdog.stacks if watchdog else {})
        cases.append(case)
        _accounting(case, n)
        _retire(case)
    print("ratios kafka-down / healthy (same run):")
    for mode in ("flat-out", f"{args.rate:,.0f}/s"):
        h, k = figs.get(f"healthy {mode}"), figs.get(f"kafka-down {mode}")
        if h and k:
            parts = [f"{key} {k[key] / h[key]:5.2f}x" for key in ("p50", "p99", "p99.9", "max")]
            print(f"  {mode:<10} " + "  ".join(parts))
    if watchdog is not None:
        watchdog.stop = True
    gc.callbacks.remove(recorder)
    chart = _cdf_chart(cases, "Monitor.log() latency tail: Kafka down vs healthy DuckDB")
    print(f"chart: {chart}")


def _retire(case: dict[str, object]) -> None:
    """Stop a case's Monitor before the next case runs: a healthy one is closed; an outage
    one's flusher, blocked on Kafka until max_block_ms, is told to stop when it returns, and
    nothing waits on Kafka at exit."""
    mon: Monitor = case["mon"]  # type: ignore[assignment]
    sink = case["sink"]
    if not hasattr(sink, "_cut_waits"):
        mon.close()  # (closed already by _accounting; a second close does nothing)
        return
    mon._stopping = True
    mon._wake.set()
    mon._exit_tried = True  # no flush at exit: Kafka is down, the rows are counted above
    sink._cut_waits(1)  # type: ignore[union-attr]
    sink._closed = True  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
