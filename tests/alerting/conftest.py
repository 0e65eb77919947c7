"""Shared fixtures: a real HTTP receiver and a real SMTP server on loopback, a FakeClock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.clock import FakeClock
from modelhealth.types import Alert, AlertState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver:
    """A real HTTP server recording JSON bodies; ``script`` scripts its answers in order.

    Each script item is a status code, or ("sleep", seconds) to stall past client timeouts;
    when the script is used up it answers ``default``. A stalled request then answers 504 and
    is not recorded: it stands for a delivery that failed. (It used to answer 202 and join
    ``bodies`` whenever its sleep ended, so a test still retrying on a busy box saw a
    delivery from a request its client had given up on.) ``on_post`` (if set) runs in the
    server's thread once a request has been counted, before it is answered: a test uses it
    to see what else happened while this request was in flight, instead of timing it.
    ``port`` (default: any free one) lets a test start it where a receiver was unreachable.
    """

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self.script: list[object] = []
        self.default = 202
        self.on_post: Callable[[], None] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    outer.attempts += 1
                    action = outer.script.pop(0) if outer.script else outer.default
                if outer.on_post is not None:
                    outer.on_post()
                if isinstance(action, tuple):
                    time.sleep(float(action[1]))
                    action = 504
                if isinstance(action, int) and action < 300:
                    with lock:
                        outer.bodies.append(json.loads(body))
                        outer.headers.append(dict(self.headers))
                self.send_response(int(action))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"ok"}' if action < 300 else b'{"error":"nope"}')

            def log_message(self, *args: object) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[LocalMailbox]:
    box = LocalMailbox(tmp_path / "mail").start()
    yield box
    box.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def firing(
    name: str = "feature_drift",
    model: str = "fraud",
    severity: str = "warning",
    since: datetime = T0,
    value: float = 0.31,
    **labels: str,
) -> Alert:
    return Alert(
        labels={"alertname": name, "model": model, "severity": severity, **labels},
        annotations={
            "summary": f"{name} on {model}",
            "value": f"{value:.2f}",
            "threshold": "0.20",
            "baseline": "0.03",
            "runbook_url": "https://runbooks.example/drift",
            "dashboard_url": "http://dash.example/fraud",
        },
        state=AlertState.FIRING,
        value=value,
        active_at=since,
        fired_at=since,
    )


def resolved(alert: Alert, at: datetime) -> Alert:
    return Alert(
        labels=alert.labels,
        annotations=alert.annotations,
        state=AlertState.INACTIVE,
        value=alert.value,
        active_at=alert.active_at,
        fired_at=alert.fired_at,
        resolved_at=at,
    )
