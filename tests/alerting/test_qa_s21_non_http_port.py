"""A webhook URL whose port speaks another protocol is an unreachable receiver, not a crash.

``post_json`` maps every failure to an Outcome, but a port that answers in another protocol
(a webhook pointed at the SMTP relay's port: the reply ``220 ...`` is no HTTP status line)
raised ``http.client.BadStatusLine`` out of it. The outbox caught it as "notifier raised
BadStatusLine", which looked like a modelhealth bug; it was neither ``unreachable`` (every row
of the receiver was tried, pass after pass) nor an answer, so
``modelhealth_receiver_reachable`` read 1 for a receiver that had never taken a notification.
A real SMTP server (aiosmtpd) on loopback plays the wrong port.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from modelhealth.alerting.mailbox import free_port
from modelhealth.alerting.notifiers.base import post_json
from modelhealth.alerting.outbox import Outbox
from modelhealth.clock import FakeClock

from . import test_notifier_conformance as conformance
from .conftest import T0
from .test_delivery_qa_outbox import queue
from .test_unreachable_receiver_s21 import SPEC


@pytest.fixture
def smtp_port() -> Iterator[int]:
    server = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    server.start()
    yield server.port
    server.stop()


def test_post_json_to_an_smtp_port_is_an_unreachable_outcome(smtp_port: int) -> None:
    outcome = post_json(f"http://127.0.0.1:{smtp_port}/alerts", {"a": 1}, timeout=5)
    assert (outcome.ok, outcome.retryable, outcome.unreachable) == (False, True, True)
    assert not outcome.reached
    assert "no HTTP answer" in outcome.reason and "220" in outcome.reason
    assert "\n" not in outcome.reason and "\r" not in outcome.reason  # one log line


def test_the_outbox_tries_such_a_receiver_once_per_pass(smtp_port: int, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "alerts.db", SPEC, rng=random.Random(7))
    ids = [queue(box, "hook", g, T0, ("fp",)) for g in ("a", "b", "c")]
    notifier = conformance.pager(f"http://127.0.0.1:{smtp_port}/v2/enqueue", 5)
    report = box.deliver_due({"hook": notifier}, FakeClock(T0).now())
    assert report.retrying == ids[:1] and sorted(report.deferred) == ids[1:]
    assert "hook" in report.unreachable and "notifier raised" not in report.errors[ids[0]]
