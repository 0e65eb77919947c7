"""resolve_timeout: an alert the rules engine stops reporting is treated as resolved."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import RoutingConfig, parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock
from modelhealth.errors import ConfigError

from .conftest import T0, Receiver, firing
from .test_pager import pager_routing


def make(receiver: Receiver, clock: FakeClock, timeout: str = "", path: str = ":memory:"):
    text = pager_routing(receiver.url)
    if timeout:
        text = text.replace("global:\n", f"global:\n  resolve_timeout: {timeout}\n")
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-1234"}
    )
    return Dispatcher(parse_routing(text, "routing.yaml"), {"pager": pager}, path, clock)


def minutes_until_resolve(d: Dispatcher, receiver: Receiver, clock: FakeClock) -> float:
    """Tick every 30s with nothing reported; minutes from the last report to the resolve."""
    last_report = clock.now()
    while len(receiver.bodies) < 2 and clock.now() - last_report < timedelta(hours=1):
        d([], clock.advance(seconds=30))
    return (clock.now() - last_report).total_seconds() / 60


@pytest.mark.parametrize(("timeout", "expected"), [("", 5), ("10m", 10)])
def test_alert_no_longer_reported_resolves_after_resolve_timeout(
    receiver: Receiver, clock: FakeClock, timeout: str, expected: int
) -> None:
    d = make(receiver, clock, timeout)
    assert d.routing.resolve_timeout == timedelta(minutes=expected)
    a = firing(severity="critical")
    for _ in range(5):  # T0 .. T0+2m: reported every 30s, paged at T0+30s
        d([a], clock.now())
        clock.advance(seconds=30)
    clock.advance(seconds=-30)
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]
    waited = minutes_until_resolve(d, receiver, clock)
    # resolved once the timeout elapsed, at the group's next flush (group_interval 1m)
    assert expected <= waited <= expected + 1
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]
    resolve = json.loads(d.outbox.rows()[-1].payload)
    (alert,) = resolve["alerts"]
    # resolved when the timeout elapsed after the last report, not when the check ran
    assert alert["resolved_at"] == (T0 + timedelta(minutes=2 + expected)).isoformat()
    for _ in range(20):
        d([], clock.advance(minutes=1))
    assert len(receiver.bodies) == 2 and d.groups == {}


def test_only_the_silent_alert_resolves(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock)
    a, b = firing(severity="critical", feature="x"), firing(severity="critical", feature="y")
    d([a, b], clock.now())
    d([a, b], clock.advance(seconds=30))
    timed_out = []
    for _ in range(12):  # b keeps being reported, a does not
        d.ingest([b], clock.advance(seconds=30))
        timed_out += d.flush(clock.now()).timed_out
    assert timed_out == [a.fingerprint]
    trig, upd = receiver.bodies
    assert upd["event_action"] == "trigger" and upd["dedup_key"] == trig["dedup_key"]
    assert upd["payload"]["custom_details"]["num_firing"] == 1
    assert upd["payload"]["custom_details"]["num_resolved"] == 1


def test_timed_out_alert_reported_again_fires_again(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock, "2m")
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    for _ in range(6):
        d([], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]
    d([a], clock.advance(minutes=1))
    d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve", "trigger"]


def test_restart_grants_a_fresh_timeout(receiver: Receiver, clock: FakeClock, tmp_path: Path):
    """Downtime is not silence: restored alerts get resolve_timeout from the restart."""
    db = str(tmp_path / "alerts.db")
    d = make(receiver, clock, path=db)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    d.close()
    clock.advance(minutes=30)  # the service was down for half an hour
    d = make(receiver, clock, path=db)
    d.flush(clock.now())
    d([a], clock.advance(minutes=1))  # the rules engine's first tick reports it again
    for _ in range(3):
        d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]
    d.close()
    clock.advance(minutes=30)
    d = make(receiver, clock, path=db)
    waited = minutes_until_resolve(d, receiver, clock)  # and this time it never comes back
    assert 5 <= waited <= 6
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]


def test_default_routing_and_config_errors() -> None:
    assert RoutingConfig.default(email_to=["a@b.c"]).resolve_timeout == timedelta(minutes=5)
    text = """global:
  min_backoff: 5s
  resolve_timeout: {value}
route: {{receiver: a}}
receivers: [{{name: a, webhook: {{url: "http://127.0.0.1:1/"}}}}]
"""
    with pytest.raises(ConfigError) as err:
        parse_routing(text.format(value="0s"), "r.yaml")
    assert "r.yaml:3:20: global: resolve_timeout: must be > 0" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_routing(text.format(value="soon"), "r.yaml")
    assert "r.yaml:3:20: global: resolve_timeout: expected a duration" in str(err.value)
