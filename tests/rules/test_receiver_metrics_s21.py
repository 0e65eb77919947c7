"""``rules run``'s ``/metrics`` say when a receiver cannot be reached, and how deliveries went.

Before, the scrape showed outbox rows by status (``modelhealth_notifications``) but nothing
said a receiver was down: a pager that refused every connection looked like a slow queue.
Now ``modelhealth_receiver_reachable{receiver}`` reads 0 once a delivery pass finds it
unreachable and 1 again once a pass reaches it, and
``modelhealth_notification_outcomes_total{receiver,outcome}`` counts what each pass did,
deferred notifications included (as Alertmanager's ``alertmanager_notifications_failed_total``
lets one alert on the alerting pipeline itself).

The daemon test runs a real ``rules run --listen`` against a port nothing listens on, then
starts a receiver there; the dispatcher tests drive a real :class:`Dispatcher` (SQLite outbox,
real webhook receivers, a port nothing listens on) on a FakeClock and read the metrics it
renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock
from modelhealth.rules.selfmetrics import EngineMetrics
from tests.alerting.conftest import T0, Receiver, firing
from tests.alerting.test_unreachable_receiver_s21 import refused_url
from tests.rules.test_routing_reload_s20 import _dispatcher, _reconfigure
from tests.rules.test_run_daemon import (
    LOUD,
    _metric,
    _rules_run,
    _scrape,
    _until,
    _value,
    write_live_store,
)

RULES = ("p99-latency", "p90-latency", "p50-latency")
"""Three rules firing at once: three groups, so three notifications per receiver a pass."""

ROUTING = """global: {{min_backoff: {backoff}, max_backoff: {backoff}}}
route:
  receiver: down
  group_by: [model, alertname]
  group_wait: {wait}
  routes:
    - {{matchers: [severity=warning], receiver: down, continue: true}}
    - {{matchers: [severity=warning], receiver: up}}
receivers:
  - {{name: down, webhook: {{url: "{down}"}}}}
  - {{name: up, webhook: {{url: "{up}"}}}}
"""


def _routing(down: str, up: str, backoff: str = "10s", wait: str = "10s") -> str:
    """Every warning to both ``down`` and ``up`` (webhook URLs), one group per alertname."""
    return ROUTING.format(down=down, up=up, backoff=backoff, wait=wait)


def reachable(receiver: str) -> str:
    return f'modelhealth_receiver_reachable{{receiver="{receiver}"}}'


def attempts(receiver: str, outcome: str) -> str:
    return f'modelhealth_notification_outcomes_total{{outcome="{outcome}",receiver="{receiver}"}}'


@pytest.fixture
def up() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# -- a real `rules run --listen` -----------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, fleet_refs) -> Path:
    return write_live_store(tmp_path / "live.duckdb", fleet_refs)


def _loud_rules(tmp_path: Path) -> Path:
    """A rules folder whose three rules fire at the first tick."""
    rules = tmp_path / "rules"
    rules.mkdir()
    one = LOUD.split("rules:\n", 1)[1]
    (rules / "fraud.yaml").write_text(
        "model: fraud\nrules:\n" + "".join(one.replace("p99-latency", name) for name in RULES)
    )
    return rules


def test_rules_run_reads_0_for_a_receiver_nobody_listens_on_until_it_does(
    tmp_path: Path, store: Path, up: Receiver
) -> None:
    down_url = refused_url()
    routing = tmp_path / "routing.yaml"
    routing.write_text(_routing(down_url, up.url, backoff="1s", wait="1s"))
    args = ("--interval", "30s", "--routing", str(routing))
    down: Receiver | None = None
    try:
        with _rules_run(tmp_path, store, _loud_rules(tmp_path), *args) as (_, port):
            _until(lambda: _metric(port, attempts("down", "retrying")) >= 2, "two passes")
            text = _scrape(port)[1]
            assert _value(text, reachable("down")) == 0
            assert _value(text, reachable("up")) == 1
            assert _value(text, attempts("up", "sent")) == 3 == len(up.bodies)
            assert _value(text, attempts("up", "deferred")) == 0
            # each pass tries the refused receiver once and defers its other two pages
            tried = _value(text, attempts("down", "retrying"))
            assert _value(text, attempts("down", "deferred")) == 2 * tried
            assert _value(text, attempts("down", "sent")) == 0
            assert _value(text, 'modelhealth_notifications{receiver="down",status="pending"}') == 3

            down = Receiver(port=urlsplit(down_url).port or 0)  # the pager comes back
            _until(lambda: _metric(port, attempts("down", "sent")) == 3, "the deferred pages")
            text = _scrape(port)[1]
            assert _value(text, reachable("down")) == 1 and len(down.bodies) == 3
            assert _value(text, reachable("up")) == 1
    finally:
        if down is not None:
            down.close()
    assert (
        "receiver down unreachable: 2 notifications deferred" in (tmp_path / "run.log").read_text()
    )


# -- the dispatcher's side ---------------------------------------------------------------------


def _page_three(d: Dispatcher, clock: FakeClock) -> None:
    """Three alerts fire at T0 and their groups flush after group_wait (10 s): one pass."""
    alerts = [firing(name) for name in RULES]
    d.ingest(alerts, T0)
    clock.set(T0 + timedelta(seconds=10))
    d.ingest(alerts, clock.now())
    d.flush(clock.now())


def _render(d: Dispatcher, clock: FakeClock) -> str:
    metrics = EngineMetrics(clock)
    metrics.receivers = d.receiver_health
    return metrics.render()


def test_a_refused_receiver_reads_0_defers_its_rows_and_reads_1_once_it_answers_503(
    tmp_path: Path, up: Receiver
) -> None:
    """A refused connection is no answer: the first row is retried, the other two deferred,
    pass after pass. An HTTP error is an answer: the receiver is reachable again, and every
    row of the pass is attempted (and retried), none deferred."""
    down_url = refused_url()
    clock = FakeClock(T0)
    d = _dispatcher(_routing(down_url, up.url), tmp_path / "alerts.db", clock)
    text = _render(d, clock)
    assert reachable("down") not in text and reachable("up") not in text  # nothing known yet
    assert f"{attempts('down', 'deferred')} 0" in text  # every outcome is there from the start

    _page_three(d, clock)
    text = _render(d, clock)
    assert _value(text, reachable("down")) == 0
    assert _value(text, attempts("down", "retrying")) == 1
    assert _value(text, attempts("down", "deferred")) == 2
    assert _value(text, reachable("up")) == 1
    assert _value(text, attempts("up", "sent")) == 3 == len(up.bodies)
    assert _value(text, attempts("up", "deferred")) == 0

    clock.set(clock.now() + timedelta(seconds=10))  # after the backoff: the same again
    assert len(d.run_due(clock.now()).deferred) == 2
    text = _render(d, clock)
    assert _value(text, reachable("down")) == 0
    assert _value(text, attempts("down", "retrying")) == 2
    assert _value(text, attempts("down", "deferred")) == 4

    back = Receiver(port=urlsplit(down_url).port or 0)
    back.default = 503  # up, but failing: an answer all the same
    try:
        clock.set(clock.now() + timedelta(seconds=10))
        report = d.run_due(clock.now())
        assert len(report.retrying) == 3 == back.attempts and not report.deferred
        text = _render(d, clock)
        assert _value(text, reachable("down")) == 1
        assert _value(text, attempts("down", "retrying")) == 5
        assert _value(text, attempts("down", "deferred")) == 4
        assert _value(text, attempts("up", "sent")) == 3 and _value(text, reachable("up")) == 1
    finally:
        back.close()


def test_a_reload_to_a_live_endpoint_reads_1_and_a_removed_receiver_is_not_exported(
    tmp_path: Path, up: Receiver
) -> None:
    fixed = Receiver()
    try:
        clock = FakeClock(T0)
        d = _dispatcher(_routing(refused_url(), up.url), tmp_path / "alerts.db", clock)
        _page_three(d, clock)
        assert _value(_render(d, clock), reachable("down")) == 0

        # `down` now points at a live endpoint; `up` is gone from the file
        only_down = (
            _routing(fixed.url, up.url)
            .replace("    - {matchers: [severity=warning], receiver: up}\n", "")
            .replace('  - {name: up, webhook: {url: "' + up.url + '"}}\n', "")
        )
        change = _reconfigure(d, only_down)
        assert change.rebuilt == ("down",) and change.removed == ("up",)
        text = _render(d, clock)
        assert 'receiver="up"' not in text  # neither gauge nor counters
        assert reachable("down") not in text  # nothing known of its new settings yet
        assert _value(text, attempts("down", "deferred")) == 2  # its counts carry over

        clock.set(clock.now() + timedelta(seconds=10))  # the deferred rows come due
        d.run_due(clock.now())
        text = _render(d, clock)
        assert _value(text, reachable("down")) == 1 and len(fixed.bodies) == 3
        assert _value(text, attempts("down", "sent")) == 3
        assert 'receiver="up"' not in text
    finally:
        fixed.close()
