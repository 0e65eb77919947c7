"""A repeat is not queued while the group's last notification to that receiver still waits.

A QA pass (round 21): with a receiver down, every ``repeat_interval`` queued another copy
of each group behind the undelivered one, and on recovery the receiver got all of them back
to back (four per group after 70 s with a 20 s repeat; up to six with the defaults). A real
Dispatcher, SQLite outbox and webhook receivers on loopback, on a FakeClock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from modelhealth.alerting.mailbox import free_port
from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, Receiver, firing
from tests.rules.test_routing_reload_s20 import _dispatcher

ROUTING = """global: {{min_backoff: 5s, max_backoff: 10s}}
route:
  receiver: hook
  group_by: [model, alertname]
  group_wait: 1s
  group_interval: 10s
  repeat_interval: 20s
receivers:
  - {{name: hook, webhook: {{url: "http://127.0.0.1:{port}/hook"}}}}
"""


def test_an_outage_queues_one_notification_per_group_and_recovery_delivers_one(
    tmp_path: Path,
) -> None:
    port = free_port()
    clock = FakeClock(T0)
    d = _dispatcher(ROUTING.format(port=port), tmp_path / "alerts.db", clock)
    alerts = [firing(name) for name in ("p99-latency", "p50-latency", "qps")]
    for second in range(0, 121, 5):  # two minutes of ticks against a receiver that is down
        clock.set(T0 + timedelta(seconds=second))
        d.ingest(alerts, clock.now())
        d.flush(clock.now())
    assert d.outbox.counts() == {"pending": 3}  # one per group, not one per repeat_interval

    back = Receiver(port=port)
    try:
        clock.set(clock.now() + timedelta(seconds=15))  # past the backoff
        report = d.run_due(clock.now())
        assert len(report.sent) == 3 and len(back.bodies) == 3
        delivered = clock.now()
        # the repeat counts from that delivery (Alertmanager logs sends): none for 20 s...
        for _ in range(3):
            clock.set(clock.now() + timedelta(seconds=5))
            d.ingest(alerts, clock.now())
            d.flush(clock.now())
        assert len(back.bodies) == 3, "a repeat followed the late delivery at once"
        # ...then one per group at each repeat_interval
        while clock.now() < delivered + timedelta(seconds=35):
            clock.set(clock.now() + timedelta(seconds=5))
            d.ingest(alerts, clock.now())
            d.flush(clock.now())
        assert len(back.bodies) == 6, len(back.bodies)  # one repeat per group, at 20 s
    finally:
        back.close()
