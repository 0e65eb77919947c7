"""Child process for test_crash: queues a page, then is SIGKILLed before or after sending it."""

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
from tests.alerting.conftest import T0, firing


class DieAround:
    """Wraps the real notifier and kills this process before or after the real send."""

    def __init__(self, inner: PagerDutyNotifier, when: str) -> None:
        self.inner, self.when = inner, when

    def notify(self, batch: NotificationBatch) -> Outcome:
        if self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        out = self.inner.notify(batch)
        os.kill(os.getpid(), signal.SIGKILL)
        return out


def main(db: str, url: str, routing: str, when: str) -> None:
    clock = FakeClock(T0)
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-123456"}
    )
    d = Dispatcher(parse_routing(routing), {"pager": DieAround(pager, when)}, db, clock)
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(timedelta(seconds=30)))
    sys.exit(3)  # not reached: the notifier kills the process


if __name__ == "__main__":
    main(*sys.argv[1:5])
