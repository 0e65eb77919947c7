"""The scheduler's own health, for whoever watches the watcher (``rules run --listen``).

``MonitoringBlind`` pages when the *store* fails, but nothing pages when ``rules run``
itself dies, hangs, or keeps failing to deliver: that needs an outside observer. As
Prometheus and Alertmanager do, the scheduler serves its own metrics in the Prometheus text
format on ``/metrics``, and ``/-/healthy`` and ``/-/ready`` for probes, so an existing
Prometheus can alert on, e.g., ``time() - modelhealth_rules_last_tick_timestamp_seconds >
300`` or ``modelhealth_notifications{status="failed"} > 0``.

``/-/ready`` answers 503 until a tick has evaluated against a reachable store, and again
while the store has been down for the latest tick.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modelhealth.clock import Clock, SystemClock
from modelhealth.types import Alert, AlertState

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's content type."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: Mapping[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:.17g}"
    return f"{name} {value:.17g}"


class EngineMetrics:
    """Counters and gauges of one scheduler process, updated by its loop, read by scrapes.

    Alert and outbox figures are read at scrape time through the callables the loop sets
    (``alerts``, ``outbox``), so they are never stale and cost nothing between scrapes."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._lock = threading.Lock()
        self.clock = clock or SystemClock()
        self.started = self.clock.now().timestamp()
        self.ticks = 0
        self.tick_seconds_sum = 0.0
        self.last_tick_seconds = 0.0
        self.last_tick = 0.0
        self.last_good_tick = 0.0
        self.store_failed = False
        self.store_failures = 0
        self.rule_errors = 0
        self.queries = 0
        self.rules_loaded = 0
        self.config_errors = 0
        self.reloads: Counter[str] = Counter()
        self.last_reload = 0.0
        self.alerts: Callable[[], Iterable[Alert]] = lambda: ()
        self.outbox: Callable[[], Mapping[tuple[str, str], int]] = dict

    def tick_done(self, report: Any, seconds: float) -> None:
        """Record one tick's ``TickReport`` and how long it took."""
        with self._lock:
            now = self.clock.now().timestamp()
            self.ticks += 1
            self.tick_seconds_sum += seconds
            self.last_tick_seconds = seconds
            self.last_tick = now
            self.store_failed = bool(report.store_failed)
            if report.store_failed:
                self.store_failures += 1
            else:
                self.last_good_tick = now
            self.rule_errors += len(report.errors)
            self.queries += report.queries

    def config_loaded(self, rules: int, errors: int, reload: bool) -> None:
        """Record a (re)load of the rule files: ``errors`` issues, ``rules`` in force."""
        with self._lock:
            self.rules_loaded, self.config_errors = rules, errors
            if reload:
                self.reloads["success" if not errors else "partial"] += 1
                self.last_reload = self.clock.now().timestamp()

    def ready(self) -> bool:
        with self._lock:
            return self.last_good_tick > 0 and not self.store_failed

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format."""
        with self._lock:
            plain = [
                ("start_time_seconds", "gauge", "When this process started (Unix time).",
                 self.started),
                ("ticks_total", "counter", "Ticks evaluated.", self.ticks),
                ("last_tick_duration_seconds", "gauge", "How long the latest tick took.",
                 self.last_tick_seconds),
                ("last_tick_timestamp_seconds", "gauge",
                 "When the latest tick ended (Unix time; 0 before the first).", self.last_tick),
                ("last_successful_tick_timestamp_seconds", "gauge",
                 "When the latest tick that reached the store ended (Unix time).",
                 self.last_good_tick),
                ("store_up", "gauge", "1 if the latest tick reached the store, else 0.",
                 0 if self.store_failed else 1),
                ("store_failures_total", "counter", "Ticks whose store could not be queried.",
                 self.store_failures),
                ("evaluation_errors_total", "counter", "Rule evaluations that raised an error.",
                 self.rule_errors),
                ("queries_total", "counter", "Store queries made by ticks.", self.queries),
                ("loaded", "gauge", "Rules in force.", self.rules_loaded),
                ("config_errors", "gauge", "Errors in the rule files at the latest (re)load.",
                 self.config_errors),
                ("last_reload_timestamp_seconds", "gauge",
                 "When the rule files were last reloaded (Unix time; 0: never).",
                 self.last_reload),
            ]  # fmt: skip
            reloads = dict(self.reloads)
            tick_sum, tick_count = self.tick_seconds_sum, self.ticks
        lines: list[str] = []

        def metric(name: str, kind: str, text: str, samples: Iterable[str]) -> None:
            lines.extend([f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples])

        for short, kind, text, value in plain:
            name = f"modelhealth_rules_{short}"
            metric(name, kind, text, [_sample(name, value)])
        name = "modelhealth_rules_tick_duration_seconds"
        durations = [_sample(f"{name}_sum", tick_sum), _sample(f"{name}_count", tick_count)]
        metric(name, "summary", "Time spent evaluating ticks.", durations)
        name = "modelhealth_rules_config_reloads_total"
        by_result = [
            _sample(name, reloads.get(r, 0), {"result": r}) for r in ("success", "partial")
        ]
        metric(name, "counter",
               "Reloads of changed rule files, by result (partial: some files had errors and"
               " kept their previous rules).", by_result)  # fmt: skip
        states: Counter[tuple[str, str]] = Counter()
        for alert in self.alerts():
            if alert.state is not AlertState.INACTIVE:
                states[(alert.state.name.lower(), alert.labels.get("severity", ""))] += 1
        metric("modelhealth_alerts", "gauge", "Alerts pending or firing, by state and severity.",
               [_sample("modelhealth_alerts", n, {"state": s, "severity": sev})
                for (s, sev), n in sorted(states.items())])  # fmt: skip
        metric("modelhealth_notifications", "gauge",
               "Notifications in the outbox, by receiver and status (pending, sent, failed,"
               " expired).",
               [_sample("modelhealth_notifications", n, {"receiver": r, "status": s})
                for (r, s), n in sorted(self.outbox().items())])  # fmt: skip
        return "\n".join(lines) + "\n"


NOT_READY = b"not ready: no tick has reached the store yet, or the latest did not\n"


def _handler(metrics: EngineMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    body, code, ctype = metrics.render().encode(), 200, CONTENT_TYPE
                except Exception as exc:  # a scrape must never take the scheduler down
                    log.exception("rendering /metrics")
                    body, code = f"cannot render metrics: {exc}\n".encode(), 500
                    ctype = "text/plain; charset=utf-8"
            elif path == "/-/healthy":
                body, code, ctype = b"OK\n", 200, "text/plain; charset=utf-8"
            elif path == "/-/ready":
                ok = metrics.ready()
                body = b"OK\n" if ok else NOT_READY
                code, ctype = (200 if ok else 503), "text/plain; charset=utf-8"
            else:
                body, code = b"not found: try /metrics, /-/healthy or /-/ready\n", 404
                ctype = "text/plain; charset=utf-8"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics endpoint: " + format, *args)

    return Handler


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (loopback) -> (host, port); a clear ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT or :PORT, e.g. 127.0.0.1:9464")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def serve(metrics: EngineMetrics, host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), _handler(metrics))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-endpoint", daemon=True).start()
    return server
