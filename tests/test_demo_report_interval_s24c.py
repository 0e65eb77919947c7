"""The demo's dispatcher knows the rules re-report firing alerts once a ``--tick``.

``rules run`` tells its dispatcher its ``--interval`` (``Dispatcher.report_interval``), so a
firing alert times out only after 4 of them; the demo builds its own dispatcher and did
not, so with ``demo --tick 600`` a flush more than the routing's 5m ``resolve_timeout`` after
a tick (the one on stopping, for one) resolved every firing alert, and the next tick paged
it again. Real parts: the demo's alerting with its local pager inbox and SMTP mailbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelhealth.demo.runner import start_alerting
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import Alert, AlertState

T0 = datetime.now(UTC).replace(microsecond=0)
FIRING = Alert(
    labels={"alertname": "p99-latency", "model": "fraud", "severity": "critical"},
    annotations={"summary": "p99 latency on fraud: 900 > 250"},
    state=AlertState.FIRING,
    value=900.0,
    active_at=T0,
    fired_at=T0,
)


def test_a_firing_alert_outlives_a_long_tick(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    store = DuckDBStore(str(tmp_path / "health.duckdb"))
    alerting = start_alerting(tmp_path, store, {}, "", 600.0)
    try:
        dispatcher = alerting.dispatcher
        assert dispatcher.resolve_timeout == timedelta(minutes=40)  # 4 ticks of 10 minutes
        dispatcher([FIRING], T0)  # a tick: the alert is reported
        dispatcher.flush(T0 + timedelta(minutes=1))  # group_wait over: paged
        between = dispatcher.flush(T0 + timedelta(minutes=6))  # e.g. the demo stopping
        assert between.timed_out == []
        dispatcher([FIRING], T0 + timedelta(minutes=10))  # the next tick
        dispatcher.flush(T0 + timedelta(minutes=11))
        events = [e["event_action"] for e in alerting.pager.events()]
        assert events == ["trigger"], events  # one page, never resolved and paged again
    finally:
        alerting.stop()
        store.close()


def test_a_short_tick_keeps_the_routing_timeout(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    store = DuckDBStore(str(tmp_path / "health.duckdb"))
    alerting = start_alerting(tmp_path, store, {}, "", 15.0)
    try:
        assert alerting.dispatcher.resolve_timeout == timedelta(minutes=5)
    finally:
        alerting.stop()
        store.close()
