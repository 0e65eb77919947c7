"""Dispatcher -> outbox -> PagerDuty notifier against a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import Receiver, firing, resolved

KEY = "R0UT1NGKEY-secret-123"


def pager_routing(url: str, extra: str = "") -> str:
    return f"""
global:
  min_backoff: 10s
  max_backoff: 2m
  expire_after: 1h
route:
  receiver: pager
  group_by: [model]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: pager
    pagerduty: {{url: "{url}", timeout: 0.5}}
{extra}
"""


def make(
    receiver: Receiver,
    clock: FakeClock,
    extra: str = "",
    path: str = ":memory:",
    timeout: float = 10.0,
) -> Dispatcher:
    """A dispatcher paging ``receiver``; ``timeout`` is the client's: generous, since a short
    one timed out on a busy box where the receiver answers at once (a test that stalls the
    receiver passes a short one)."""
    cfg = parse_routing(pager_routing(receiver.url, extra), "test.yaml")
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url, timeout=timeout),
        env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY},
    )
    return Dispatcher(cfg, {"pager": pager}, path, clock, rng=random.Random(7))


def test_trigger_then_resolve_share_the_dedup_key(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock)
    a = firing(severity="critical", feature="amount")
    b = firing(severity="critical", feature="country")
    d([a], clock.now())
    assert receiver.bodies == []  # group_wait holds the first notification
    d([a, b], clock.advance(seconds=15))
    assert receiver.bodies == []
    d([a, b], clock.advance(seconds=15))
    assert len(receiver.bodies) == 1  # both alerts in one incident
    trig = receiver.bodies[0]
    assert trig["event_action"] == "trigger"
    assert trig["routing_key"] == KEY
    assert trig["payload"]["severity"] == "critical"
    assert trig["payload"]["custom_details"]["num_firing"] == 2
    assert {x["href"] for x in trig["links"]} >= {"https://runbooks.example/drift"}
    for _ in range(10):  # still firing, nothing new: no repeat before repeat_interval
        d([a, b], clock.advance(minutes=1))
    assert len(receiver.bodies) == 1
    d([resolved(a, clock.now()), b], clock.advance(minutes=1))
    upd = receiver.bodies[1]  # b still fires: the incident is updated, not resolved
    assert upd["event_action"] == "trigger" and upd["dedup_key"] == trig["dedup_key"]
    assert upd["payload"]["custom_details"]["num_firing"] == 1
    assert upd["payload"]["custom_details"]["num_resolved"] == 1
    d([resolved(b, clock.now())], clock.advance(minutes=1))
    assert len(receiver.bodies) == 3
    res = receiver.bodies[2]
    assert res["event_action"] == "resolve"
    assert res["dedup_key"] == trig["dedup_key"]
    for _ in range(5):  # resolved is sent once
        d([], clock.advance(minutes=1))
    assert len(receiver.bodies) == 3
    assert d.outbox.counts() == {"sent": 3}


def test_repeat_interval_reminds_while_firing(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock)
    a = firing(severity="critical")
    for _ in range(4 * 60 + 2):
        d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "trigger"]
    assert receiver.bodies[0]["dedup_key"] == receiver.bodies[1]["dedup_key"]


def test_500s_and_timeouts_are_retried_with_backoff_and_delivered_once(
    receiver: Receiver, clock: FakeClock
) -> None:
    receiver.script = [500, 503, ("sleep", 6), 429, 502]
    d = make(receiver, clock, timeout=2)  # the stall times out; every answer comes well within
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    assert receiver.bodies == [] and receiver.attempts == 1
    delays = []
    last = clock.now()
    while not receiver.bodies:
        nxt = d.outbox.next_due()
        assert nxt is not None
        clock.set(nxt)
        delays.append((nxt - last).total_seconds())
        last = nxt
        d.run_due(clock.now())
    assert receiver.attempts == 6
    assert len(receiver.bodies) == 1
    # backoff doubles with jitter in [d/2, d]: 10s, 20s, 40s, 80s, then capped at 120s
    for got, cap in zip(delays, [10, 20, 40, 80, 120], strict=True):
        assert cap / 2 <= got <= cap, delays
    (row,) = d.outbox.rows()
    assert row.status == "sent" and row.attempts == 6
    for _ in range(10):
        d([a], clock.advance(minutes=1))
    assert len(receiver.bodies) == 1


def test_non_retryable_status_fails_without_retry(receiver: Receiver, clock: FakeClock) -> None:
    receiver.default = 400
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    report = d.flush(clock.advance(seconds=30))
    assert (
        report.delivery.failed and "HTTP 400" in report.delivery.errors[report.delivery.failed[0]]
    )
    for _ in range(5):
        d([a], clock.advance(minutes=5))
    # the outbox never retries a refused row; the group's next flush queues the page anew
    rows = d.outbox.rows()
    assert [r.attempts for r in rows] == [1] * 6 and receiver.attempts == 6
    assert d.outbox.counts() == {"failed": 6}


def test_expired_after_retrying_until_expiry(receiver: Receiver, clock: FakeClock) -> None:
    receiver.default = 503
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    for _ in range(70):
        d([a], clock.advance(minutes=1))
    # given up after expire_after (1h); the page is queued again, not lost
    assert d.outbox.counts() == {"expired": 1, "pending": 1}
    assert d.outbox.rows("expired")[0].attempts >= 5


def test_inhibition_critical_page_mutes_the_models_warnings(
    receiver: Receiver, clock: FakeClock
) -> None:
    cfg_extra = """
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [model]
"""
    cfg = parse_routing(
        pager_routing(receiver.url, cfg_extra).replace(
            "group_by: [model]", "group_by: [model, severity]"
        ),
        "t.yaml",
    )
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY}
    )
    d = Dispatcher(cfg, {"pager": pager}, ":memory:", clock)
    crit = firing("latency_p99", severity="critical")
    warn_same = firing("feature_drift", severity="warning")
    warn_other = firing("feature_drift", model="ranker", severity="warning")
    d([crit, warn_same, warn_other], clock.now())
    report = d.flush(clock.advance(seconds=30))
    assert report.muted == {warn_same.fingerprint: "inhibited"}
    sevs = sorted((b["payload"]["component"], b["payload"]["severity"]) for b in receiver.bodies)
    assert sevs == [("fraud", "critical"), ("ranker", "warning")]
    # the page resolves: the warning is no longer inhibited and is sent at the next interval
    d([resolved(crit, clock.now()), warn_same, warn_other], clock.advance(minutes=1))
    actions = [(b["event_action"], b.get("payload", {}).get("severity")) for b in receiver.bodies]
    assert actions[2:] == [("resolve", None), ("trigger", "warning")] or actions[2:] == [
        ("trigger", "warning"),
        ("resolve", None),
    ]
    assert len(receiver.bodies) == 4


def test_silence_suppresses_and_expiry_restores(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock)
    sid = d.silences.add(
        ["model=fraud"], clock.now(), clock.now() + timedelta(hours=2), "alice", "deploying v4"
    )
    a = firing(severity="critical")
    for _ in range(30):
        d([a], clock.advance(minutes=1))
    assert receiver.bodies == []
    d.silences.expire(sid, clock.now())
    d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]


def test_silence_expires_by_time(receiver: Receiver, clock: FakeClock) -> None:
    d = make(receiver, clock)
    d.silences.add(
        ["alertname=~feature_.*"],
        clock.now(),
        clock.now() + timedelta(minutes=20),
        "bob",
        "known drift",
    )
    a = firing(severity="critical")
    minutes_until_page = 0
    while not receiver.bodies and minutes_until_page < 60:
        d([a], clock.advance(minutes=1))
        minutes_until_page += 1
    assert 20 <= minutes_until_page <= 21  # next group_interval flush after expiry


def test_restart_does_not_resend_what_the_receiver_already_has(
    receiver: Receiver, clock: FakeClock, tmp_path
) -> None:
    db = str(tmp_path / "alerts.db")
    d = make(receiver, clock, path=db)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    assert len(receiver.bodies) == 1
    d.close()
    d2 = make(receiver, clock, path=db)  # fresh process, same database
    for _ in range(5):
        d2([a], clock.advance(minutes=1))
    assert len(receiver.bodies) == 1
    d2([resolved(a, clock.now())], clock.advance(minutes=1))
    d2([], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]
    assert receiver.bodies[0]["dedup_key"] == receiver.bodies[1]["dedup_key"]


def test_a_trigger_refused_for_good_is_sent_again_at_the_next_flush(
    receiver: Receiver, clock: FakeClock
) -> None:
    """A 400 (bad payload, wrong key) is not retried, but the page must not be lost: the
    notification log forgets it, so the group's next flush pages again; a resolve then
    closes an incident the receiver did open."""
    receiver.script = [400]
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    assert receiver.attempts == 1 and receiver.bodies == []
    assert d.outbox.counts() == {"failed": 1}
    d([a], clock.advance(minutes=1))  # group_interval: told again, accepted this time
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]
    for _ in range(5):  # and only once
        d([a], clock.advance(minutes=1))
    assert len(receiver.bodies) == 1
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]


def test_a_trigger_that_expires_is_sent_again_once_the_receiver_is_back(
    receiver: Receiver, clock: FakeClock
) -> None:
    receiver.default = 503
    d = make(receiver, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    for _ in range(70):  # the receiver is down for longer than expire_after (1h)
        d([a], clock.advance(minutes=1))
    assert d.outbox.counts().get("expired", 0) >= 1 and receiver.bodies == []
    receiver.default = 202
    for _ in range(3):
        d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]


def test_a_feature_joining_a_drift_incident_updates_the_page(
    receiver: Receiver, clock: FakeClock
) -> None:
    """The rules engine merges per-feature alerts into one alert per (rule, model) whose
    fingerprint does not change as features join; the receiver must still hear of them."""
    from modelhealth.rules.grouping import group_alerts

    d = make(receiver, clock)
    amount = firing(severity="critical", feature="amount", value=0.3)
    country = firing(severity="critical", feature="country", value=0.9)
    d(group_alerts([amount]), clock.now())
    d(group_alerts([amount]), clock.advance(seconds=30))
    assert len(receiver.bodies) == 1
    for _ in range(3):  # nothing new: no re-page
        d(group_alerts([amount]), clock.advance(minutes=1))
    assert len(receiver.bodies) == 1
    d(group_alerts([amount, country]), clock.advance(minutes=1))  # country joins
    assert len(receiver.bodies) == 2
    update = receiver.bodies[1]
    assert update["event_action"] == "trigger"
    assert update["dedup_key"] == receiver.bodies[0]["dedup_key"]  # the same incident
    assert "country" in json.dumps(update["payload"])
    for _ in range(3):  # amount leaving is not news; the incident stays open
        d(group_alerts([country]), clock.advance(minutes=1))
    assert len(receiver.bodies) == 2


def test_adding_an_unrelated_route_does_not_re_page_open_incidents(
    receiver: Receiver, clock: FakeClock, tmp_path
) -> None:
    """Group keys (and the dedup keys hashed from them) named a route by its position, so a
    route inserted above it re-paged every open incident under a new dedup key."""
    critical = "    - matchers: [severity=critical]\n      receiver: pager\n"
    growth = "    - matchers: [team=growth]\n      receiver: pager\n"

    def dispatcher(routes: str) -> Dispatcher:
        text = pager_routing(receiver.url).replace("receivers:", f"  routes:\n{routes}receivers:")
        pager = PagerDutyNotifier(
            PagerDutyConfig(url=receiver.url, timeout=10),
            env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY},
        )
        cfg = parse_routing(text)
        return Dispatcher(
            cfg, {"pager": pager}, str(tmp_path / "a.db"), clock, rng=random.Random(7)
        )

    a = firing(severity="critical")
    d = dispatcher(critical)
    d([a], clock.now())
    d([a], clock.advance(seconds=30))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]
    d.close()
    d = dispatcher(growth + critical)  # restarted with a new route above the critical one
    for _ in range(5):
        d([a], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger"]  # nothing new
    d([resolved(a, clock.now())], clock.advance(minutes=1))
    assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"]
    assert receiver.bodies[1]["dedup_key"] == receiver.bodies[0]["dedup_key"]
