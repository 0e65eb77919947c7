"""A routing reload that fixes a receiver's URL delivers its queued notifications at once.

Before, a receiver found unreachable (a wrong port, a host that refuses) had its queued
notifications waiting out the backoff its old settings earned (up to ``max_backoff``, 10
minutes by default) after the owner had fixed the URL and reloaded; meanwhile
``modelhealth_receiver_reachable`` read 1 for it, so nothing said why no page came. A real
Dispatcher, SQLite outbox and webhook receivers on loopback, on a FakeClock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, Receiver, firing
from tests.alerting.test_unreachable_receiver_s21 import refused_url
from tests.rules.test_routing_reload_s20 import _dispatcher, _reconfigure

ROUTING = """global: {{min_backoff: 5m, max_backoff: 10m}}
route:
  receiver: hook
  group_by: [model, alertname]
  group_wait: 10s
receivers:
  - {{name: hook, webhook: {{url: "{url}"}}}}
"""


@pytest.fixture
def fixed() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_queued_notifications_go_to_the_fixed_url_right_after_the_reload(
    tmp_path: Path, fixed: Receiver
) -> None:
    clock = FakeClock(T0)
    d = _dispatcher(ROUTING.format(url=refused_url()), tmp_path / "alerts.db", clock)
    alerts = [firing(name) for name in ("p99-latency", "p50-latency")]
    d.ingest(alerts, T0)
    clock.set(T0 + timedelta(seconds=10))  # group_wait: both groups flush, the URL refuses
    d.ingest(alerts, clock.now())
    report = d.flush(clock.now())
    assert len(report.delivery.retrying) == 1 and len(report.delivery.deferred) == 1
    assert "hook" in report.delivery.unreachable

    change = _reconfigure(d, ROUTING.format(url=fixed.url))  # the owner fixes the URL
    assert change.rebuilt == ("hook",)

    clock.set(clock.now() + timedelta(seconds=1))  # the next pass, well within the backoff
    report = d.run_due(clock.now())
    assert len(report.sent) == 2 and len(fixed.bodies) == 2
    assert d.outbox.counts() == {"sent": 2}
    assert d.receiver_health()["hook"].reachable


def test_an_unchanged_receiver_keeps_its_backoff(tmp_path: Path) -> None:
    """A reload that leaves the receiver alone does not hurry it (no retry storm)."""
    url = refused_url()
    clock = FakeClock(T0)
    d = _dispatcher(ROUTING.format(url=url), tmp_path / "alerts.db", clock)
    alert = firing()
    d.ingest([alert], T0)
    clock.set(T0 + timedelta(seconds=10))
    d.ingest([alert], clock.now())
    assert len(d.flush(clock.now()).delivery.retrying) == 1

    change = _reconfigure(d, ROUTING.format(url=url) + "# a comment\n")
    assert change.kept == ("hook",)
    clock.set(clock.now() + timedelta(seconds=1))
    report = d.run_due(clock.now())
    assert not report.retrying and not report.sent
    assert d.outbox.counts() == {"pending": 1}
