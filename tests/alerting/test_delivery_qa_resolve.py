"""QA finding 1: a resolve reaches every receiver that was told the alert fired.

Resolved alerts stay in their group until a resolve for them was delivered (as in
Alertmanager), so a resolve that expires or is refused for good is sent again by the group's
next flush, and a failed update does not make the log forget the trigger the receiver has.
"""

from __future__ import annotations

import random
from pathlib import Path

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import Receiver, firing, resolved
from .test_pager import KEY, pager_routing

NO_RESOLVES = """
route: {receiver: pager, group_by: [model], group_wait: 30s, group_interval: 1m}
receivers:
  - name: pager
    pagerduty: {url: "URL", timeout: 0.5, send_resolved: false}
"""


def make(
    receiver: Receiver, clock: FakeClock, path: str = ":memory:", text: str = ""
) -> Dispatcher:
    cfg = parse_routing(text.replace("URL", receiver.url) or pager_routing(receiver.url), "t.yaml")
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url, timeout=10),
        env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY},
    )
    return Dispatcher(cfg, {"pager": pager}, path, clock, rng=random.Random(7))


def actions(receiver: Receiver) -> list[str]:
    return [str(b["event_action"]) for b in receiver.bodies]


def test_a_resolve_that_expires_is_sent_again_once_the_receiver_is_back(
    receiver: Receiver, clock: FakeClock
) -> None:
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    assert actions(receiver) == ["trigger"]
    receiver.default = 500
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    for _ in range(65):  # the resolve is retried until it expires (expire_after: 1h)
        d([], clock.advance(minutes=1))
    assert d.outbox.counts().get("expired") == 1
    assert d.groups, "the resolve is still owed: its alert must stay in the group"
    receiver.default = 202
    for _ in range(10):
        d([], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger", "resolve"]  # delivered once, then the group goes
    assert receiver.bodies[1]["dedup_key"] == receiver.bodies[0]["dedup_key"]
    assert d.groups == {}


def test_a_resolve_refused_for_good_is_sent_again_at_the_next_flush(
    receiver: Receiver, clock: FakeClock
) -> None:
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    receiver.script = [400]  # the first resolve is refused, the next one accepted
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    for _ in range(5):
        d([], clock.advance(minutes=1))
    assert receiver.attempts == 3
    assert actions(receiver) == ["trigger", "resolve"]
    assert d.groups == {}


def test_a_resolve_still_reaches_the_receiver_after_an_update_failed_for_good(
    receiver: Receiver, clock: FakeClock
) -> None:
    d = make(receiver, clock)
    a, b = firing(severity="critical", feature="amount"), firing(severity="critical", version="2")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    receiver.script = [400]  # b joining: the update is refused for good
    d([a, b], clock.advance(minutes=1))
    assert receiver.attempts == 2 and actions(receiver) == ["trigger"]
    # everything resolves before the group's next flush
    d([resolved(a, clock.now()), resolved(b, clock.now())], clock.advance(seconds=10))
    for _ in range(5):
        d([], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger", "resolve"]
    assert d.groups == {}


def test_an_undelivered_resolve_survives_a_restart(receiver: Receiver, tmp_path: Path) -> None:
    db = str(tmp_path / "alerts.db")
    clock = FakeClock(firing().fired_at)  # type: ignore[arg-type]
    d = make(receiver, clock, db)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    receiver.default = 503
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    for _ in range(65):
        d([], clock.advance(minutes=1))
    d.close()
    receiver.default = 202
    d = make(receiver, clock, db)  # a new process on the same file
    assert d.groups, "the owed resolve was not persisted"
    for _ in range(5):
        d([], clock.advance(minutes=1))
    d.close()
    assert actions(receiver) == ["trigger", "resolve"]
    d = make(receiver, clock, db)
    for _ in range(3):
        d([], clock.advance(minutes=1))
    assert d.groups == {} and actions(receiver) == ["trigger", "resolve"]


def test_a_delivered_resolve_is_sent_once_and_a_kept_alert_never_refires(
    receiver: Receiver, clock: FakeClock
) -> None:
    d = make(receiver, clock)
    a, b = firing(severity="critical", version="1"), firing(severity="critical", version="2")
    d([a, b], clock.now())
    d([a, b], clock.advance(seconds=30))
    receiver.script = [500]  # the update is retried once, then goes through
    d([resolved(a, clock.now()), b], clock.advance(minutes=1))
    for _ in range(6):
        d([b], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger", "trigger"]  # the update (a resolved, b firing)
    details = receiver.bodies[1]["payload"]["custom_details"]  # type: ignore[index]
    assert details["num_firing"] == 1 and details["num_resolved"] == 1
    assert set(next(iter(d.groups.values())).alerts) == {b.fingerprint}  # a dropped once told
    d([resolved(b, clock.now())], clock.advance(minutes=1))
    for _ in range(5):
        d([], clock.advance(minutes=1))
    assert actions(receiver) == ["trigger", "trigger", "resolve"]
    assert d.groups == {}


def test_a_receiver_without_resolves_drops_resolved_alerts_at_once(
    receiver: Receiver, clock: FakeClock
) -> None:
    d = make(receiver, clock, text=NO_RESOLVES)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    receiver.default = 500  # would fail: nothing is sent, so nothing is owed
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    assert d.groups == {} and actions(receiver) == ["trigger"]
