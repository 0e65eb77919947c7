"""Notifications/s through the durable outbox to a local HTTP receiver.

Measures three paths in one run against the same ThreadingHTTPServer on 127.0.0.1:
  direct   - the webhook notifier called in a loop (no outbox): the peer/baseline;
  memory   - Dispatcher with an in-memory SQLite outbox (route, group, dedup, queue, send, mark);
  file     - the same with a WAL SQLite file (the durable default).
Every path is warmed up first (connection set-up, imports, SQLite pages), then measured
``--repeats`` times with the order of the three paths rotated each repeat, so none always runs
first on a cold machine. Prints the median notifications/s of each path with its min-max over
repeats, the median of the per-repeat ratio to the direct path (with its min-max), and the cost
of a steady tick: the rules engine re-reporting the same N firing alerts (nothing to send; the
dispatcher persists when each alert was last reported, for resolve_timeout and restarts).
Saves a bar chart (median, min-max whiskers) under artifacts/benchmarks/.

    .venv/bin/python benchmarks/notify.py [N] [--repeats 5] [--warmup 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock
from modelhealth.types import Alert, AlertState

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

received = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        global received
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


ROUTING = """
route:
  receiver: hook
  group_by: [model]
  group_wait: 0s
receivers:
  - name: hook
    webhook: {{url: "{url}"}}
"""


def alerts(n: int, t0: datetime) -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "feature_drift", "model": f"m{i}", "severity": "warning"},
            annotations={"summary": "drift", "value": "0.3"},
            state=AlertState.FIRING,
            value=0.3,
            active_at=t0,
            fired_at=t0,
        )
        for i in range(n)
    ]


def run_dispatcher(url: str, n: int, path: str) -> tuple[float, float]:
    """(notifications/s for N new incidents, milliseconds of one steady re-report tick)."""
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    d = Dispatcher(
        parse_routing(ROUTING.format(url=url)),
        {"hook": WebhookNotifier(WebhookConfig(url=url))},
        path,
        clock,
    )
    batch = alerts(n, clock.now())
    start = time.perf_counter()
    d(batch, clock.advance(timedelta(seconds=1)))
    elapsed = time.perf_counter() - start
    assert d.outbox.counts() == {"sent": n}, d.outbox.counts()
    start = time.perf_counter()
    d(batch, clock.advance(timedelta(seconds=15)))
    tick = time.perf_counter() - start
    assert d.outbox.counts() == {"sent": n}, d.outbox.counts()
    d.close()
    return n / elapsed, tick * 1000


def run_direct(url: str, n: int) -> float:
    hook = WebhookNotifier(WebhookConfig(url=url))
    b = [a.to_dict() for a in alerts(1, datetime(2026, 1, 1, tzinfo=UTC))]
    start = time.perf_counter()
    for i in range(n):
        nb = NotificationBatch(
            receiver="hook",
            group_key=f"g{i}",
            dedup_key=f"d{i}",
            status="firing",
            reason="new_alerts",
            group_labels={},
            alerts=b,
            created_at="",
        )
        assert hook.notify(nb).ok
    return n / (time.perf_counter() - start)


def _spread(xs: list[float]) -> str:
    return f"{min(xs):.2f}-{max(xs):.2f}" if len(xs) > 1 else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "n", nargs="?", type=int, default=2000,
        help="notifications (= alerts, one incident each) per path and repeat (default 2000)",
    )  # fmt: skip
    ap.add_argument(
        "--repeats", type=int, default=5,
        help="measurements per path, path order rotated each time (default 5)",
    )  # fmt: skip
    ap.add_argument(
        "--warmup", type=int, default=50,
        help="notifications each path sends before anything is timed (default 50)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    n = args.n
    if n < 1 or args.repeats < 1:
        ap.error("N and --repeats must be at least 1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    paths = ("direct", "memory", "file")
    rates: dict[str, list[float]] = {p: [] for p in paths}
    ticks: dict[str, list[float]] = {"memory": [], "file": []}
    with tempfile.TemporaryDirectory() as tmp:

        def measure(path: str, count: int, tag: str) -> None:
            if path == "direct":
                rate, tick = run_direct(url, count), None
            else:
                db = ":memory:" if path == "memory" else str(Path(tmp) / f"outbox-{tag}.db")
                rate, tick = run_dispatcher(url, count, db)
            if tag != "warmup":
                rates[path].append(rate)
                if tick is not None:
                    ticks[path].append(tick)

        if args.warmup > 0:
            for path in paths:
                measure(path, args.warmup, "warmup")
        for r in range(args.repeats):
            order = paths[r % 3 :] + paths[: r % 3]
            for path in order:
                measure(path, n, str(r))
            print(
                f"  repeat {r + 1}/{args.repeats} ({' -> '.join(order)}): "
                + ", ".join(f"{p} {rates[p][-1]:.0f}/s" for p in paths),
                file=sys.stderr,
                flush=True,
            )
    server.shutdown()
    med = {p: statistics.median(v) for p, v in rates.items()}
    ratio = {p: [a / b for a, b in zip(rates[p], rates["direct"], strict=True)] for p in paths}
    med_ratio = {p: statistics.median(v) for p, v in ratio.items()}
    med_tick = {p: statistics.median(v) for p, v in ticks.items()}
    results = {
        "notifications": n,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "direct_per_s": round(med["direct"]),
        "outbox_memory_per_s": round(med["memory"]),
        "outbox_file_per_s": round(med["file"]),
        "memory_vs_direct": round(med_ratio["memory"], 3),
        "file_vs_direct": round(med_ratio["file"], 3),
        "memory_vs_direct_range": [round(min(ratio["memory"]), 3), round(max(ratio["memory"]), 3)],
        "file_vs_direct_range": [round(min(ratio["file"]), 3), round(max(ratio["file"]), 3)],
        "steady_tick_memory_ms": round(med_tick["memory"], 1),
        "steady_tick_file_ms": round(med_tick["file"], 1),
        "received": received,
    }
    labels = {"direct": "direct (peer)", "memory": "outbox memory", "file": "outbox file"}
    print(
        f"{n} notifications per path, {args.repeats} repeats (order rotated), "
        f"{args.warmup} warm-up each; median (min-max)"
    )
    print(f"{'path':<16}{'notifications/s':>16}{'min-max':>16}{'vs direct':>11}{'min-max':>13}")
    for p in paths:
        lo, hi = min(rates[p]), max(rates[p])
        print(
            f"{labels[p]:<16}{med[p]:>16.0f}{f'{lo:.0f}-{hi:.0f}':>16}"
            f"{med_ratio[p]:>11.2f}{_spread(ratio[p]) if p != 'direct' else '-':>13}"
        )
    print(
        f"steady tick, {n} alerts re-reported (median): memory {med_tick['memory']:.0f} ms, "
        f"file {med_tick['file']:.0f} ms"
    )
    chart = bar_chart(
        "notify",
        f"Notifications/s to a local webhook, N={n}, median of {args.repeats} (higher is better)",
        [labels[p] for p in paths],
        {"notifications/s": [med[p] for p in paths]},
        ylabel="notifications/s",
        spread={"notifications/s": [(min(rates[p]), max(rates[p])) for p in paths]},
    )
    print(f"chart: {chart}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
