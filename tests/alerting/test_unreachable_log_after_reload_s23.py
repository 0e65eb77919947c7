"""The "receiver X unreachable: N notifications deferred to T" warning names the time the
queue is really tried again, also when a reload landed during the pass.

A reload that changes a receiver makes its queue due at once (``Outbox.make_due``), and a
pass already under way keeps that (see ``test_reload_during_delivery_s22``). But the pass's
warning, and ``DeliveryReport.unreachable``, still named the backoff the old endpoint earned
(minutes away): an operator who had just fixed the URL read that nothing would happen for
five minutes, while the next pass delivered at once.

A real Dispatcher, SQLite outbox and HTTP receivers on loopback, on a FakeClock; the reload
runs on the hanging endpoint's own thread while its request is in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.pipeline import Dispatcher, build_receivers
from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, Receiver, firing

ROUTING = """global: {{min_backoff: 5m, max_backoff: 10m}}
route:
  receiver: hook
  group_by: [model, alertname]
  group_wait: 10s
receivers:
  - {{name: hook, webhook: {{url: "{url}", timeout: 1.0}}}}
"""
NAMES = ("p99-latency", "p50-latency", "p95-latency")


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    r = Receiver()
    r.script = [("sleep", 11.0)] * 5  # past the 1 s client timeout: unreachable
    yield r
    r.close()


@pytest.fixture
def fixed() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _dispatcher(routing: str, db: Path, clock: FakeClock) -> Dispatcher:
    config = parse_routing(routing, "routing.yaml")
    receivers = build_receivers(config, env={})
    return Dispatcher(config, receivers.notifiers, db, clock, receiver_settings=receivers.settings)


def _reload(d: Dispatcher, routing: str) -> None:
    config = parse_routing(routing, "routing.yaml")
    d.reconfigure(config, build_receivers(config, env={}), d.clock.now())


def _due_groups(d: Dispatcher, clock: FakeClock) -> None:
    """Three alerts fire at T0; after group_wait each group's notification is due."""
    alerts = [firing(name) for name in NAMES]
    d.ingest(alerts, T0)
    clock.set(T0 + timedelta(seconds=10))
    d.ingest(alerts, clock.now())


def _deferred_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unreachable:" in r.getMessage()]


def test_the_deferral_warning_names_the_reload_not_the_old_backoff(
    tmp_path: Path, hanging: Receiver, fixed: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    d = _dispatcher(ROUTING.format(url=hanging.url), tmp_path / "a.db", clock)
    reloaded: list[bool] = []

    def reload_once() -> None:
        if not reloaded:
            reloaded.append(True)
            _reload(d, ROUTING.format(url=fixed.url))

    hanging.on_post = reload_once
    _due_groups(d, clock)
    with caplog.at_level(logging.WARNING, logger="modelhealth.alerting.outbox"):
        report = d.flush(clock.now()).delivery
    assert reloaded and len(report.deferred) == 2

    due = d.outbox.next_due()
    assert due == clock.now()  # the reload made the whole queue due at once
    assert report.unreachable["hook"] == due
    (line,) = _deferred_lines(caplog)
    assert f"2 notifications deferred to {due.isoformat()}" in line, line
    assert "due at once" in line and "reload" in line, line

    report = d.run_due(clock.now() + timedelta(seconds=1))  # and so it is
    assert len(report.sent) == 3 and len(fixed.bodies) == 3


def test_without_a_reload_the_warning_names_the_backoff(
    tmp_path: Path, hanging: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The usual case is unchanged: deferred to the failed attempt's backoff, which is when
    the queue is due again."""
    clock = FakeClock(T0)
    d = _dispatcher(ROUTING.format(url=hanging.url), tmp_path / "a.db", clock)
    _due_groups(d, clock)
    with caplog.at_level(logging.WARNING, logger="modelhealth.alerting.outbox"):
        report = d.flush(clock.now()).delivery
    assert len(report.deferred) == 2

    due = d.outbox.next_due()
    assert due is not None and due >= clock.now() + timedelta(minutes=2, seconds=30)
    assert report.unreachable["hook"] == due
    (line,) = _deferred_lines(caplog)
    assert f"2 notifications deferred to {due.isoformat()} (" in line, line
    assert "reload" not in line, line
