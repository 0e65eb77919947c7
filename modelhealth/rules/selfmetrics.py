"""The scheduler's own health, for whoever watches the watcher (``rules run --listen``).

``MonitoringBlind`` pages when the *store* fails, but nothing pages when ``rules run``
itself dies, hangs, or keeps failing to deliver: that needs an outside observer. As
Prometheus and Alertmanager do, the scheduler serves its own metrics in the Prometheus text
format on ``/metrics``, and ``/-/healthy`` and ``/-/ready`` for probes, so an existing
Prometheus can alert on, e.g., ``time() - modelhealth_rules_last_tick_timestamp_seconds >
300``, ``modelhealth_notifications{status="failed"} > 0`` or, for a receiver that cannot be
reached (timeout, refused connection, DNS/TLS failure), ``modelhealth_receiver_reachable ==
0`` (as one would on Alertmanager's ``alertmanager_notifications_failed_total``). That gauge
is the receiver's last known state, restored from the outbox's file at start; a receiver no
attempt has contacted with its current settings has no sample.

``modelhealth_alerts_not_judged`` counts the alerts kept pending or firing while their rule
cannot judge their window (``when_not_judged: keep``, no time limit), and
``modelhealth_alerts_not_judged_since_timestamp_seconds`` says since when the oldest of them
is, e.g. for ``time() - modelhealth_alerts_not_judged_since_timestamp_seconds > 86400``.

``/-/ready`` answers 503 until a tick has evaluated against a reachable store, and again
while the store has been down for the latest tick; a configuration that fails to reload does
not make it unready (the running one stays in force), it shows in the ``config`` metrics.
``POST /-/reload`` reloads the rule files and the routing file, as Prometheus' and
Alertmanager's do: 200 when everything loaded, 500 with the errors when a file did not.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from modelhealth.clock import Clock, SystemClock
from modelhealth.types import NOT_JUDGED_SINCE, Alert, AlertState

if TYPE_CHECKING:
    from modelhealth.alerting.pipeline import ReceiverHealth

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


@dataclass
class ConfigHealth:
    """The latest (re)load of one configuration (``rules``: the rule files; ``routing``)."""

    errors: int = 0
    reloads: Counter[str] = field(default_factory=Counter)
    last_reload: float = 0.0


RELOAD_RESULTS = {"rules": ("success", "partial"), "routing": ("success", "failure")}
"""The results each configuration's reloads are counted by: a rule file that fails keeps its
own rules while the others' edits apply (partial); the routing file is one piece (failure)."""


class EngineMetrics:
    """Counters and gauges of one scheduler process, updated by its loop, read by scrapes.

    Alert, outbox and receiver figures are read at scrape time through the callables the loop
    sets (``alerts``, ``outbox``, ``receivers``: ``Dispatcher.receiver_health``), so they are
    never stale and cost nothing between scrapes."""

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
        self.configs: dict[str, ConfigHealth] = {"rules": ConfigHealth()}
        self.alerts: Callable[[], Iterable[Alert]] = lambda: ()
        self.outbox: Callable[[], Mapping[tuple[str, str], int]] = dict
        self.receivers: Callable[[], Mapping[str, ReceiverHealth]] = dict

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

    @property
    def config_errors(self) -> int:
        """Errors in the rule files at their latest (re)load."""
        return self.configs["rules"].errors

    def config_loaded(self, rules: int, errors: int, reload: bool) -> None:
        """Record a (re)load of the rule files: ``errors`` issues, ``rules`` in force."""
        with self._lock:
            self.rules_loaded = rules
            self._loaded("rules", errors, reload, "partial")

    def routing_loaded(self, errors: int, reload: bool) -> None:
        """Record a (re)load of the routing file: ``errors`` issues (then the running
        routing stayed in force)."""
        with self._lock:
            self._loaded("routing", errors, reload, "failure")

    def _loaded(self, config: str, errors: int, reload: bool, bad: str) -> None:
        health = self.configs.setdefault(config, ConfigHealth())
        health.errors = errors
        if reload:
            health.reloads["success" if not errors else bad] += 1
            health.last_reload = self.clock.now().timestamp()

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
            ]  # fmt: skip
            configs = {
                name: ConfigHealth(h.errors, Counter(h.reloads), h.last_reload)
                for name, h in sorted(self.configs.items())
            }
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
        self._render_configs(configs, metric)
        states: Counter[tuple[str, str]] = Counter()
        unjudged: Counter[tuple[str, str]] = Counter()
        oldest: float | None = None
        for alert in self.alerts():
            if alert.state is not AlertState.INACTIVE:
                which = (alert.state.name.lower(), alert.labels.get("severity", ""))
                states[which] += 1
                since = _since(alert.annotations.get(NOT_JUDGED_SINCE, ""))
                if since is not None:
                    unjudged[which] += 1
                    oldest = since if oldest is None else min(oldest, since)
        metric("modelhealth_alerts", "gauge", "Alerts pending or firing, by state and severity.",
               [_sample("modelhealth_alerts", n, {"state": s, "severity": sev})
                for (s, sev), n in sorted(states.items())])  # fmt: skip
        metric("modelhealth_alerts_not_judged", "gauge",
               "Alerts kept pending or firing while their rule cannot judge their window"
               " (when_not_judged: keep), by state and severity.",
               [_sample("modelhealth_alerts_not_judged", n, {"state": s, "severity": sev})
                for (s, sev), n in sorted(unjudged.items())])  # fmt: skip
        name = "modelhealth_alerts_not_judged_since_timestamp_seconds"
        metric(name, "gauge",
               "Since when the alert kept longest while not judged has been (Unix time; no"
               " sample when none is).",
               [_sample(name, oldest)] if oldest is not None else [])  # fmt: skip
        metric("modelhealth_notifications", "gauge",
               "Notifications in the outbox, by receiver and status (pending, sent, failed,"
               " expired).",
               [_sample("modelhealth_notifications", n, {"receiver": r, "status": s})
                for (r, s), n in sorted(self.outbox().items())])  # fmt: skip
        self._render_receivers(sorted(self.receivers().items()), metric)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _render_receivers(
        receivers: Iterable[tuple[str, ReceiverHealth]],
        metric: Callable[[str, str, str, Iterable[str]], None],
    ) -> None:
        """Each receiver of the routing in force: reachable or not (no sample while unknown,
        rather than a guess), and its delivery outcomes (every outcome, 0 included, so that
        ``increase()`` sees the first one)."""
        from modelhealth.alerting.outbox import OUTCOMES

        receivers = list(receivers)
        reachable = "modelhealth_receiver_reachable"
        outcomes = "modelhealth_notification_outcomes_total"
        metric(reachable, "gauge",
               "1 if the receiver's latest delivery attempt reached it (sent, or answered, even"
               " with an error), 0 if it found it unreachable (timeout, refused connection, DNS"
               " or TLS failure); by receiver of the routing in force, kept across restarts."
               " There is no sample while nothing is known of the receiver with its current"
               " settings (no attempt has contacted it). A failure found before contacting it"
               " (a missing routing key or $VAR, a bad URL) says nothing of the endpoint and"
               " changes nothing here: it counts as outcome=\"failed\" in"
               " modelhealth_notification_outcomes_total.",
               [_sample(reachable, int(h.reachable), {"receiver": r})
                for r, h in receivers if h.reachable is not None])  # fmt: skip
        metric(outcomes, "counter",
               "Notifications by receiver and delivery outcome (sent; retrying: failed, to be"
               " tried again; failed: for good; expired: given up at expire_after), and"
               " notifications deferred (not attempted: the receiver was found unreachable"
               " earlier in the same pass).",
               [_sample(outcomes, h.outcomes.get(o, 0), {"receiver": r, "outcome": o})
                for r, h in receivers for o in OUTCOMES])  # fmt: skip

    @staticmethod
    def _render_configs(
        configs: Mapping[str, ConfigHealth], metric: Callable[[str, str, str, Iterable[str]], None]
    ) -> None:
        """The (re)load metrics, labelled ``config="rules"`` or ``config="routing"``."""
        gauges = (
            ("config_errors", "Errors at the latest (re)load, by config (rules: the rule files;"
             " routing: the routing file).", lambda h: h.errors),
            ("config_last_reload_successful",
             "1 if the latest (re)load of the config had no errors, else 0.",
             lambda h: int(not h.errors)),
            ("last_reload_timestamp_seconds",
             "When the config was last reloaded (Unix time; 0: never).",
             lambda h: h.last_reload),
        )  # fmt: skip
        for short, text, value in gauges:
            name = f"modelhealth_rules_{short}"
            samples = [_sample(name, value(h), {"config": c}) for c, h in configs.items()]
            metric(name, "gauge", text, samples)
        name = "modelhealth_rules_config_reloads_total"
        by_result = [
            _sample(name, h.reloads.get(r, 0), {"config": c, "result": r})
            for c, h in configs.items()
            for r in RELOAD_RESULTS.get(c, ("success", "failure"))
        ]
        metric(name, "counter",
               "Reloads of changed config files, by config and result (rules partial: some"
               " files had errors and kept their previous rules; routing failure: the file did"
               " not load and the running routing stayed).", by_result)  # fmt: skip


NOT_READY = b"not ready: no tick has reached the store yet, or the latest did not\n"


ReloadHook = Callable[[], tuple[int, str]]
"""Reloads the configuration for ``POST /-/reload``: (HTTP status, text to answer)."""


def _handler(metrics: EngineMetrics, reload: ReloadHook | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if path == "/-/reload" and reload is not None:
                try:
                    code, text = reload()
                except Exception as exc:  # the endpoint must never take the scheduler down
                    log.exception("POST /-/reload")
                    code, text = 500, f"reload failed: {exc}\n"
                self._answer(code, text.encode(), "text/plain; charset=utf-8")
            else:
                self._answer(404, b"not found: POST /-/reload\n", "text/plain; charset=utf-8")

        def _answer(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/-/reload":
                body, code = b"only POST reloads: curl -X POST .../-/reload\n", 405
                ctype = "text/plain; charset=utf-8"
            elif path == "/metrics":
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
            self._answer(code, body, ctype)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics endpoint: " + format, *args)

    return Handler


def _since(text: str) -> float | None:
    """An alert's ``not_judged_since`` annotation as Unix time (None: none, or unreadable)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (loopback) -> (host, port); a clear ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT or :PORT, e.g. 127.0.0.1:9464")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def serve(
    metrics: EngineMetrics, host: str, port: int, reload: ReloadHook | None = None
) -> ThreadingHTTPServer:
    """Serve ``metrics`` on ``host:port`` from a daemon thread, and ``POST /-/reload`` through
    ``reload`` when given; ``shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), _handler(metrics, reload))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-endpoint", daemon=True).start()
    return server
