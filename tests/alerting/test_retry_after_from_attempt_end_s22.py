"""A receiver's ``Retry-After`` counts from the end of the attempt that got it, as the outbox's
own backoff does (round 22).

Round 21 made the backoff count from the end of the attempt; a 429's or 503's Retry-After
still counted from the start of the delivery pass. A receiver that took a while to answer
"503, Retry-After: 2" was therefore tried again before those 2 s had passed since its answer
(here after 1 s: the other second went on the slow answer itself). A real HTTP receiver that
answers slowly and a real Outbox in a SQLite file; the checks read the stored next attempt and
count requests, they do not time the pass.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelhealth.alerting.config import DeliverySpec
from modelhealth.alerting.outbox import Outbox
from modelhealth.clock import FakeClock

from .test_delivery_qa_outbox import queue
from .test_unreachable_receiver_s21 import ANSWERED_S, pager, stored

SLOW_S = 1.0
"""How long the receiver takes to answer each request."""


class SlowThrottling:
    """A real HTTP server that answers each POST after ``SLOW_S`` with ``status`` and, while
    ``retry_after`` is set, a ``Retry-After`` of that many seconds."""

    def __init__(self) -> None:
        self.status = 503
        self.retry_after: int | None = 2
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                time.sleep(SLOW_S)
                body = b"{}"
                self.send_response(outer.status)
                if outer.retry_after is not None:
                    self.send_header("Retry-After", str(outer.retry_after))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[SlowThrottling]:
    s = SlowThrottling()
    yield s
    s.close()


def _box(tmp_path: Path, backoff: timedelta) -> Outbox:
    spec = DeliverySpec(min_backoff=backoff, max_backoff=backoff, expire_after=timedelta(hours=1))
    return Outbox(tmp_path / "alerts.db", spec, rng=random.Random(3))


def test_retry_after_counts_from_the_end_of_a_slow_answer(
    slow: SlowThrottling, tmp_path: Path, clock: FakeClock
) -> None:
    """503 with Retry-After: 2 after 1 s: the next attempt comes 3 s after the pass started,
    not 2 s (the backoff, 0.25-0.5 s here, is the earlier of the two and does not count)."""
    box = _box(tmp_path, timedelta(seconds=0.5))
    row = queue(box, "pager", "g", clock.now(), ("fp",))
    notifiers = {"pager": pager(slow.url, ANSWERED_S)}
    report = box.deliver_due(notifiers, clock.now())
    assert report.retrying == [row] and slow.attempts == 1
    assert "retry after 2s" in report.errors[row]
    due = stored(box)[row][2]
    assert due >= clock.now() + timedelta(seconds=SLOW_S + 2)

    # 2.5 s after the pass started: past a Retry-After counted from the pass's start, still
    # inside the one the receiver meant (2 s from its answer)
    again = box.deliver_due(notifiers, clock.now() + timedelta(seconds=2.5))
    assert not again.retrying and not again.sent and slow.attempts == 1

    slow.status, slow.retry_after = 202, None
    assert box.deliver_due(notifiers, due).sent == [row] and slow.attempts == 2


def test_the_later_of_backoff_and_retry_after_still_wins(
    slow: SlowThrottling, tmp_path: Path, clock: FakeClock
) -> None:
    """A backoff (2-4 s here) longer than the Retry-After (1 s): the backoff, also counted
    from the attempt's end (a regression guard: this held before round 22 too)."""
    slow.retry_after = 1
    box = _box(tmp_path, timedelta(seconds=4))
    row = queue(box, "pager", "g", clock.now(), ("fp",))
    report = box.deliver_due({"pager": pager(slow.url, ANSWERED_S)}, clock.now())
    assert report.retrying == [row] and "retry after 1s" in report.errors[row]
    assert stored(box)[row][2] >= clock.now() + timedelta(seconds=SLOW_S + 2)
