"""Notifications/s through the durable outbox to a local HTTP receiver.

Measures three paths in one run against the same ThreadingHTTPServer on 127.0.0.1:
  direct   - the webhook notifier called in a loop (no outbox): the peer/baseline;
  memory   - Dispatcher with an in-memory SQLite outbox (route, group, dedup, queue, send, mark);
  file     - the same with a WAL SQLite file (the durable default).
Prints notifications/s and the ratio to the direct path, plus the cost of a steady tick: the
rules engine re-reporting the same N firing alerts (nothing to send; the dispatcher persists
when each alert was last reported, for resolve_timeout and restarts).
Run: python benchmarks/notify.py [N]
"""

from __future__ import annotations

import json
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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    direct = run_direct(url, n)
    memory, memory_tick = run_dispatcher(url, n, ":memory:")
    with tempfile.TemporaryDirectory() as tmp:
        file_rate, file_tick = run_dispatcher(url, n, str(Path(tmp) / "outbox.db"))
    server.shutdown()
    results = {
        "notifications": n,
        "direct_per_s": round(direct),
        "outbox_memory_per_s": round(memory),
        "outbox_file_per_s": round(file_rate),
        "memory_vs_direct": round(memory / direct, 3),
        "file_vs_direct": round(file_rate / direct, 3),
        "steady_tick_memory_ms": round(memory_tick, 1),
        "steady_tick_file_ms": round(file_tick, 1),
        "received": received,
    }
    print(f"{'path':<16}{'notifications/s':>16}{'vs direct':>11}")
    print(f"{'direct (peer)':<16}{direct:>16.0f}{1.0:>11.2f}")
    print(f"{'outbox memory':<16}{memory:>16.0f}{memory / direct:>11.2f}")
    print(f"{'outbox file':<16}{file_rate:>16.0f}{file_rate / direct:>11.2f}")
    print(
        f"steady tick, {n} alerts re-reported: memory {memory_tick:.0f} ms, file {file_tick:.0f} ms"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
