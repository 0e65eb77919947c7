"""A delivery pass ends even with ``min_backoff: 0s`` (which the routing file accepts).

A pass claims due rows ``limit`` at a time and claims again while a batch came back full.
A claim leases its rows until ``now`` plus the backoff; at a zero backoff the lease ended at
``now`` itself, so the rows were still due and the next batch claimed them again: with as
many due groups as ``limit`` (1,000 in ``rules run``) behind a receiver that is down, the
pass never returned, and the delivery thread spun with every other receiver's notifications
stuck behind it. A real Outbox and a port nothing listens on; the pass runs in a thread so a
regression fails instead of hanging the suite.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

from modelhealth.alerting.config import DeliverySpec, parse_routing
from modelhealth.alerting.outbox import DeliveryReport, Outbox

from . import test_notifier_conformance as conformance
from .conftest import T0
from .test_delivery_qa_outbox import queue
from .test_unreachable_receiver_s21 import refused_url


def test_the_routing_file_accepts_a_zero_backoff() -> None:
    routing = parse_routing(
        "global: {min_backoff: 0s, max_backoff: 0s}\nroute: {receiver: hook}\n"
        'receivers:\n  - {name: hook, webhook: {url: "http://127.0.0.1:9/x"}}\n',
        "routing.yaml",
    )
    assert routing.delivery.min_backoff == timedelta(0)


def test_a_pass_with_a_zero_backoff_and_a_full_batch_returns() -> None:
    spec = DeliverySpec(min_backoff=timedelta(0), max_backoff=timedelta(0))
    box = Outbox(":memory:", spec, rng=random.Random(1))
    ids = [queue(box, "hook", g, T0, ("fp",)) for g in ("a", "b", "c")]
    notifier = conformance.pager(refused_url(), 5)
    done: list[DeliveryReport] = []
    worker = threading.Thread(
        target=lambda: done.append(box.deliver_due({"hook": notifier}, T0, limit=2)),
        daemon=True,
    )
    started = time.monotonic()
    worker.start()
    worker.join(30)
    pass_took = timedelta(seconds=time.monotonic() - started)
    assert done, "deliver_due kept claiming the same due rows: the pass never ended"
    (report,) = done
    assert report.retrying == ids[:1] and sorted(report.deferred) == ids[1:]
    # Due again right after the failed attempt, as a zero backoff asks. The retry is
    # scheduled from the attempt's end on the pass's clock (T0 plus the real time the
    # refused connection took), so the bound is the pass's own duration, not a constant.
    due = box.next_due()
    assert due is not None and due <= T0 + pass_took + timedelta(milliseconds=1)
