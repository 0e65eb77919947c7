"""A routing reload that lands while a delivery to the receiver it changed is in flight still
makes that receiver's queue due at once (round 22).

In ``rules run`` the delivery thread (``BackgroundDelivery``) runs ``Dispatcher.flush`` ->
``run_due`` without the dispatcher's lock, while the scheduler loop (on a file change, a
SIGHUP or ``POST /-/reload``) runs ``Dispatcher.reconfigure``. A pass claims its rows, calls
the notifiers with no lock held, then records the outcomes. A reload in between made the
changed receiver's rows due at once (``Outbox.make_due``), and the pass then recorded the old
endpoint's backoff over it: the receiver whose URL had just been fixed waited a full backoff
(up to ``max_backoff``) before its first try with the new settings.

Here the reload runs on the receiver's own thread while the old endpoint's request is in
flight (its ``on_post``), which is the interleaving ``rules run`` has, made deterministic. A
real Dispatcher, SQLite outbox and HTTP receivers on loopback, on a FakeClock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.pipeline import Dispatcher, RoutingChange
from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, Receiver, firing
from tests.rules.test_routing_reload_s20 import _dispatcher, _reconfigure

ROUTING = """global: {{min_backoff: 5m, max_backoff: 10m}}
route:
  receiver: hook
  group_by: [model, alertname]
  group_wait: 10s
receivers:
  - {{name: hook, webhook: {{url: "{url}", timeout: {timeout}}}}}
"""
HANG_TIMEOUT_S = 1.0
"""The hanging endpoint's client timeout."""


@pytest.fixture
def broken() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fixed() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _reload_while_in_flight(
    d: Dispatcher, broken: Receiver, routing: str, changes: list[RoutingChange]
) -> None:
    """Reload ``routing`` from the broken endpoint's thread, during its first request."""

    def reload() -> None:
        if not changes:
            changes.append(_reconfigure(d, routing))

    broken.on_post = reload


def _due_groups(clock: FakeClock, d: Dispatcher, names: tuple[str, ...]) -> None:
    """Alerts ``names`` fire at T0; at the clock's new time their groups are due to flush."""
    alerts = [firing(name) for name in names]
    d.ingest(alerts, T0)
    clock.set(T0 + timedelta(seconds=10))  # group_wait
    d.ingest(alerts, clock.now())


@pytest.mark.parametrize("answer", [503, "hang"])
def test_a_reload_during_the_old_endpoints_attempt_leaves_the_queue_due_at_once(
    tmp_path: Path, broken: Receiver, fixed: Receiver, answer: object
) -> None:
    """503: an answer, every row of the pass attempted and retried. Hang: unreachable, one
    row attempted, the other deferred. Either way the pass's backoff (5-10 minutes) must not
    outlast the reload that changed the receiver: the next pass, a second later, delivers
    both notifications to the fixed URL."""
    if answer == "hang":
        broken.script = [("sleep", HANG_TIMEOUT_S + 10)] * 5
    else:
        broken.default = 503
    clock = FakeClock(T0)
    d = _dispatcher(
        ROUTING.format(url=broken.url, timeout=HANG_TIMEOUT_S), tmp_path / "a.db", clock
    )
    changes: list[RoutingChange] = []
    _reload_while_in_flight(
        d, broken, ROUTING.format(url=fixed.url, timeout=HANG_TIMEOUT_S), changes
    )
    _due_groups(clock, d, ("p99-latency", "p50-latency"))

    report = d.flush(clock.now())  # the reload happens during this pass's first request
    assert [c.rebuilt for c in changes] == [("hook",)]
    if answer == "hang":
        assert len(report.delivery.retrying) == 1 and len(report.delivery.deferred) == 1
    else:
        assert len(report.delivery.retrying) == 2 == broken.attempts
    assert not fixed.bodies

    clock.set(clock.now() + timedelta(seconds=1))  # well inside the old endpoint's backoff
    report = d.run_due(clock.now())
    assert len(report.sent) == 2 and len(fixed.bodies) == 2
    assert d.outbox.counts() == {"sent": 2}
    assert d.receiver_health()["hook"].reachable is True


def test_a_reload_that_leaves_the_receiver_alone_mid_pass_keeps_the_backoff(
    tmp_path: Path, broken: Receiver
) -> None:
    """Only a reload that changes (or removes) the receiver hurries it: an unrelated edit
    landing mid-pass leaves the backoff the pass recorded (no retry storm)."""
    broken.default = 503
    clock = FakeClock(T0)
    routing = ROUTING.format(url=broken.url, timeout=HANG_TIMEOUT_S)
    d = _dispatcher(routing, tmp_path / "a.db", clock)
    changes: list[RoutingChange] = []
    _reload_while_in_flight(d, broken, routing + "# a comment\n", changes)
    _due_groups(clock, d, ("p99-latency",))
    assert len(d.flush(clock.now()).delivery.retrying) == 1
    assert [c.kept for c in changes] == [("hook",)]

    clock.set(clock.now() + timedelta(seconds=1))
    report = d.run_due(clock.now())
    assert not report.retrying and not report.sent and broken.attempts == 1
    assert d.outbox.counts() == {"pending": 1}
