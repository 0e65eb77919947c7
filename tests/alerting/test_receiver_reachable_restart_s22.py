"""``modelhealth_receiver_reachable`` says the last known state of a receiver, or nothing
(round 22).

Before, every receiver of the routing read 1 until an attempt proved otherwise: after a
restart a pager whose last attempts had been refused, with its notifications waiting in the
outbox, read 1 until its next retry (up to ``max_backoff`` later); a pager that had never been
contacted (no routing key: each notification fails before any request) read 1 while every one
of its notifications failed. Now the latest state is kept in the outbox's file and restored
at start, for a receiver whose settings are still the ones it was found with; a receiver no
attempt has contacted with its current settings has no sample at all.

A real Dispatcher, SQLite outbox and webhook receivers on loopback (a port nothing listens on
for the one that is down), on a FakeClock; the metrics are those ``rules run`` serves.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, Receiver, firing
from tests.alerting.test_unreachable_receiver_s21 import refused_url
from tests.rules.test_receiver_metrics_s21 import (
    _page_three,
    _render,
    _routing,
    attempts,
    reachable,
    up,  # noqa: F401 (fixture)
)
from tests.rules.test_routing_reload_s20 import _dispatcher


def _gauge(text: str, receiver: str) -> float | None:
    """The receiver's ``modelhealth_receiver_reachable`` sample, None when there is none."""
    for line in text.splitlines():
        if line.startswith(reachable(receiver) + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_restart_restores_each_receivers_last_known_reachability(
    tmp_path: Path,
    up: Receiver,  # noqa: F811 (fixture)
) -> None:
    down_url = refused_url()
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    d = _dispatcher(_routing(down_url, up.url), db, clock)
    _page_three(d, clock)
    text = _render(d, clock)
    assert (_gauge(text, "down"), _gauge(text, "up")) == (0, 1)
    d.close()

    # the process restarts on the same file: its three pages still wait for `down`
    d = _dispatcher(_routing(down_url, up.url), db, clock)
    assert d.outbox.counts_by_receiver()[("down", "pending")] == 3
    text = _render(d, clock)
    assert (_gauge(text, "down"), _gauge(text, "up")) == (0, 1)

    back = Receiver(port=urlsplit(down_url).port or 0)  # `down` comes back
    try:
        clock.set(clock.now() + timedelta(seconds=10))  # its backoff is over
        assert len(d.run_due(clock.now()).sent) == 3 == len(back.bodies)
    finally:
        back.close()
    assert _gauge(_render(d, clock), "down") == 1
    d.close()
    d = _dispatcher(_routing(down_url, up.url), db, clock)  # the latest state is the one kept
    assert (_gauge(_render(d, clock), "down"), _gauge(_render(d, clock), "up")) == (1, 1)


def test_no_sample_while_nothing_is_known_of_the_receiver_with_its_settings(
    tmp_path: Path,
    up: Receiver,  # noqa: F811 (fixture)
) -> None:
    """A new process, or one restarted with the receiver's URL changed, knows nothing of it:
    no sample (its outcome counters are there from the start all the same)."""
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    d = _dispatcher(_routing(refused_url(), up.url), db, clock)
    text = _render(d, clock)
    assert (_gauge(text, "down"), _gauge(text, "up")) == (None, None)
    assert f"{attempts('down', 'sent')} 0" in text
    _page_three(d, clock)
    assert (_gauge(_render(d, clock), "down"), _gauge(_render(d, clock), "up")) == (0, 1)
    d.close()

    fixed = Receiver()  # the owner fixes `down`'s URL in the file and restarts
    try:
        d = _dispatcher(_routing(fixed.url, up.url), db, clock)
        text = _render(d, clock)
        assert (_gauge(text, "down"), _gauge(text, "up")) == (None, 1)
    finally:
        fixed.close()


PAGER_WITHOUT_KEY = """route:
  receiver: pd
  group_by: [model, alertname]
  group_wait: 10s
receivers:
  - {{name: pd, pagerduty: {{url: "{url}"}}}}
"""


def test_a_receiver_failing_before_any_request_has_no_sample(
    tmp_path: Path,
    up: Receiver,  # noqa: F811 (fixture)
) -> None:
    """No routing key: each notification fails for good before a request is made. Nothing
    contacted the endpoint, so nothing is said of it (it used to read 1); the failures show in
    ``modelhealth_notification_outcomes_total{outcome="failed"}``, as the gauge's help says."""
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    d = _dispatcher(PAGER_WITHOUT_KEY.format(url=up.url), db, clock)
    alert = firing()
    d.ingest([alert], T0)
    clock.set(T0 + timedelta(seconds=10))
    d.ingest([alert], clock.now())
    assert len(d.flush(clock.now()).delivery.failed) == 1 and up.attempts == 0
    text = _render(d, clock)
    assert _gauge(text, "pd") is None
    assert f"{attempts('pd', 'failed')} 1" in text
    help_line = next(t for t in text.splitlines() if t.startswith("# HELP " + "modelhealth_rec"))
    assert "no sample" in help_line.lower() and "before contacting it" in help_line
    d.close()
    assert _gauge(_render(_dispatcher(PAGER_WITHOUT_KEY.format(url=up.url), db, clock), clock),
                  "pd") is None  # fmt: skip


def test_a_restart_with_a_changed_receiver_url_tries_its_queue_at_once(
    tmp_path: Path,
    up: Receiver,  # noqa: F811 (fixture)
) -> None:
    """A reload that fixes a receiver's URL makes its queue due at once; a restart with the
    fixed URL did not: the three pages waited out the backoff the refused URL had earned."""
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    d = _dispatcher(_routing(refused_url(), up.url, backoff="1h"), db, clock)
    _page_three(d, clock)
    assert d.outbox.counts_by_receiver()[("down", "pending")] == 3
    d.close()

    fixed = Receiver()
    try:
        clock.set(clock.now() + timedelta(seconds=1))  # well inside the 1 h backoff
        d = _dispatcher(_routing(fixed.url, up.url, backoff="1h"), db, clock)
        assert len(d.run_due(clock.now()).sent) == 3 == len(fixed.bodies)
        assert _gauge(_render(d, clock), "down") == 1
        d.close()
    finally:
        fixed.close()


def test_a_restart_with_unchanged_settings_keeps_the_backoff(
    tmp_path: Path,
    up: Receiver,  # noqa: F811 (fixture)
) -> None:
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    routing = _routing(refused_url(), up.url, backoff="1h")
    d = _dispatcher(routing, db, clock)
    _page_three(d, clock)
    d.close()
    clock.set(clock.now() + timedelta(seconds=1))
    d = _dispatcher(routing, db, clock)
    report = d.run_due(clock.now())
    assert (report.sent, report.retrying, report.deferred) == ([], [], [])  # nothing due yet
    assert d.outbox.counts_by_receiver()[("down", "pending")] == 3
    d.close()
