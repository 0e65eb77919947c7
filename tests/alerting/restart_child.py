"""Child process for test_restart: does some dispatcher work, then SIGKILLs itself.

Modes:
  resolve <db> <url> <routing>           the page is sent, the rules engine reports the resolve,
                                          the process dies before the group's next flush;
  batch <db> <url> <routing> <k> <every> five pages are due in one delivery pass; the process
                                          dies right after the k-th real send, with outcomes
                                          committed every <every> sends.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock
from tests.alerting.conftest import T0, firing, resolved

ENV = {"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-123456"}


class DieAfter:
    """The real notifier; the process is killed right after the k-th send returned."""

    def __init__(self, inner: PagerDutyNotifier, k: int) -> None:
        self.inner, self.k, self.sent = inner, k, 0

    def notify(self, batch: NotificationBatch) -> Outcome:
        out = self.inner.notify(batch)
        self.sent += 1
        if self.sent == self.k:
            os.kill(os.getpid(), signal.SIGKILL)
        return out


def resolve_then_die(db: str, url: str, routing: str) -> None:
    clock = FakeClock(T0)
    pager = PagerDutyNotifier(PagerDutyConfig(url=url), env=ENV)
    d = Dispatcher(parse_routing(routing), {"pager": pager}, db, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(timedelta(seconds=30)))  # group_wait over: the trigger is sent
    assert d.outbox.counts() == {"sent": 1}, d.outbox.counts()
    # 20s later the rules engine reports the resolve; group_interval (1m) has not elapsed, so
    # the resolve waits in the group -- and the process dies before that flush.
    d([resolved(a, clock.now())], clock.advance(timedelta(seconds=20)))
    assert d.outbox.counts() == {"sent": 1}, d.outbox.counts()
    os.kill(os.getpid(), signal.SIGKILL)


def batch_then_die(db: str, url: str, routing: str, k: int, every: int) -> None:
    clock = FakeClock(T0)
    pager = PagerDutyNotifier(PagerDutyConfig(url=url), env=ENV)
    d = Dispatcher(parse_routing(routing), {"pager": DieAfter(pager, k)}, db, clock)
    d.outbox.commit_every = every
    alerts = [firing(severity="critical", model=f"m{i}") for i in range(5)]
    d(alerts, clock.now())
    d(alerts, clock.advance(timedelta(seconds=30)))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "resolve":
        resolve_then_die(*args[:3])
    else:
        batch_then_die(args[0], args[1], args[2], int(args[3]), int(args[4]))
    sys.exit(3)  # not reached: the process kills itself
