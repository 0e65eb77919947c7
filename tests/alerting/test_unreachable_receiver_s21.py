"""A receiver that cannot be reached is one failure per delivery pass, not one per row.

Real receivers throughout: HTTP servers on loopback that hang past the client's timeout or
answer, a port nothing listens on, aiosmtpd servers; a real Outbox in a SQLite file. Every
check counts requests or reads the outbox rows rather than timing the pass.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from modelhealth.alerting.config import DeliverySpec
from modelhealth.alerting.mailbox import free_port
from modelhealth.alerting.notifiers.base import Notifier, post_json
from modelhealth.alerting.outbox import Outbox
from modelhealth.alerting.sqlite import from_ms
from modelhealth.clock import FakeClock

from . import test_notifier_conformance as conformance
from .conftest import T0, Receiver
from .test_delivery_qa_outbox import batch, queue
from .test_email import _Greylisting, email_notifier

HANG_TIMEOUT_S = 2.0
"""The hanging pager's client timeout: each row it is tried with costs this long."""
ANSWERED_S = 30.0
"""Client timeout where the receiver answers at once: ample for a busy 2-core box."""
GROUPS = [f"model_{i}" for i in range(6)]
SPEC = DeliverySpec(min_backoff=timedelta(seconds=10), expire_after=timedelta(hours=1))


def pager(url: str, timeout: float = ANSWERED_S) -> Notifier:
    return conformance.pager(url, timeout)


def refused_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}/v2/enqueue"


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    """A pager that accepts the connection, then never answers within HANG_TIMEOUT_S."""
    r = Receiver()
    r.script = [("sleep", HANG_TIMEOUT_S + 10)] * 20
    yield r
    r.close()


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "alerts.db", SPEC, rng=random.Random(7))


def stored(box: Outbox) -> dict[int, tuple[str, int, datetime, str]]:
    """(status, attempts, next attempt, last error) of every row, read from the file."""
    con = sqlite3.connect(box.path)
    try:
        got = con.execute(
            "SELECT id, status, attempts, next_attempt_at, last_error FROM outbox"
        ).fetchall()
    finally:
        con.close()
    return {i: (s, a, from_ms(n), e) for i, s, a, n, e in got}


def queue_groups(box: Outbox, receiver: str, at: datetime = T0) -> list[int]:
    return [queue(box, receiver, g, at, ("fp",)) for g in GROUPS]


# -- the outbox's per-pass circuit breaker ------------------------------------------------------


def test_six_pages_to_a_hanging_pager_cost_one_request_and_defer_five(
    hanging: Receiver, box: Outbox, clock: FakeClock
) -> None:
    ids = queue_groups(box, "pager")
    report = box.deliver_due({"pager": pager(hanging.url, HANG_TIMEOUT_S)}, clock.now())
    assert hanging.attempts == 1, "the hanging pager was tried once per queued page"
    assert report.retrying == ids[:1] and sorted(report.deferred) == ids[1:]
    assert report.sent == report.failed == report.expired == []
    rows = stored(box)
    assert [rows[i][:2] for i in ids] == [("pending", 1)] + [("pending", 0)] * 5
    # all six are due again together, after the failed row's backoff (10 s, jittered),
    # counted from the end of its attempt (the timeout it waited out)
    due = {rows[i][2] for i in ids}
    assert due == {report.unreachable["pager"]} == {box.next_due()}
    earliest = clock.now() + timedelta(seconds=5 + HANG_TIMEOUT_S)
    assert earliest <= due.pop() <= clock.now() + timedelta(seconds=10 + HANG_TIMEOUT_S + 60)
    assert "timeout" in rows[ids[0]][3]
    assert all(rows[i][3].startswith("not attempted: receiver unreachable") for i in ids[1:])


def test_a_healthy_receiver_in_the_same_pass_still_gets_every_row(
    hanging: Receiver, receiver: Receiver, box: Outbox, clock: FakeClock
) -> None:
    hung = queue_groups(box, "pager")
    healthy = queue_groups(box, "chat")
    notifiers = {"pager": pager(hanging.url, HANG_TIMEOUT_S), "chat": pager(receiver.url)}
    report = box.deliver_due(notifiers, clock.now())
    assert sorted(report.sent) == healthy and len(receiver.bodies) == 6
    assert report.unreachable.keys() == {"pager"}
    assert hanging.attempts == 1 and sorted(report.deferred) == hung[1:]
    assert box.counts_by_receiver() == {("chat", "sent"): 6, ("pager", "pending"): 6}


def test_once_the_pager_recovers_the_next_pass_delivers_all_six_in_group_order(
    hanging: Receiver, box: Outbox, clock: FakeClock
) -> None:
    """Each group has a trigger and, behind it, a resolve: the deferred triggers all go out
    in the first pass after the backoff, the resolves only after them."""
    triggers = queue_groups(box, "pager")
    for g in GROUPS:
        box.enqueue(batch("pager", g, "resolved"), T0, group_key=g, receiver="pager",
                    firing=(), resolved=("fp",))  # fmt: skip
    first = box.deliver_due({"pager": pager(hanging.url, HANG_TIMEOUT_S)}, clock.now())
    assert hanging.attempts == 1 and len(first.deferred) == 5
    hanging.script, hanging.default = [], 202  # the pager is back
    notifiers = {"pager": pager(hanging.url)}
    nxt = first.unreachable["pager"]  # (next_due() also counts the resolves, due but queued)
    assert nxt > clock.now() + timedelta(seconds=4)
    assert box.deliver_due(notifiers, clock.now() + timedelta(seconds=4)).sent == []  # backoff
    clock.set(nxt)
    assert sorted(box.deliver_due(notifiers, clock.now()).sent) == triggers
    resolves = box.deliver_due(notifiers, clock.now())
    assert len(resolves.sent) == 6 and box.counts() == {"sent": 12}
    actions: dict[str, list[str]] = {}
    for body in hanging.bodies:
        actions.setdefault(str(body["dedup_key"]), []).append(str(body["event_action"]))
    assert actions == {f"dk-{g}": ["trigger", "resolve"] for g in GROUPS}
    assert [r.attempts for r in box.rows()] == [2] + [1] * 11


def test_an_http_500_is_an_answer_not_a_circuit_break(
    receiver: Receiver, box: Outbox, clock: FakeClock
) -> None:
    receiver.default = 500
    ids = queue_groups(box, "pager")
    report = box.deliver_due({"pager": pager(receiver.url)}, clock.now())
    assert receiver.attempts == 6 and report.retrying == ids
    assert report.deferred == [] and report.unreachable == {}
    assert [a for _, a, _, _ in stored(box).values()] == [1] * 6


def test_a_refused_connection_breaks_the_circuit_like_a_timeout(
    box: Outbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ids = queue_groups(box, "pager")
    with caplog.at_level(logging.WARNING, logger="modelhealth.alerting.outbox"):
        report = box.deliver_due({"pager": pager(refused_url())}, clock.now())
    assert report.retrying == ids[:1] and sorted(report.deferred) == ids[1:]
    rows = stored(box)
    assert [rows[i][1] for i in ids] == [1, 0, 0, 0, 0, 0]
    assert len({rows[i][2] for i in ids}) == 1
    assert "connection to 127.0.0.1:" in rows[ids[0]][3] and "failed" in rows[ids[0]][3]
    circuit = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(circuit) == 1, circuit  # one line for the receiver, not one per row
    assert circuit[0].startswith("receiver pager unreachable: 5 notifications deferred to ")


def test_the_circuit_holds_across_the_claim_batches_of_one_pass(
    box: Outbox, clock: FakeClock
) -> None:
    """A pass claims ``limit`` rows at a time; a receiver found unreachable in the first
    batch is not tried again in the later ones."""
    ids = queue_groups(box, "pager")
    notifier = pager(refused_url())
    report = box.deliver_due({"pager": notifier}, clock.now(), limit=2)
    assert report.retrying == ids[:1] and sorted(report.deferred) == ids[1:]
    assert [r.attempts for r in box.rows()] == [1, 0, 0, 0, 0, 0]
    # still down at the next due time: again one attempt, the rest wait once more
    nxt = box.next_due()
    assert nxt is not None
    clock.set(nxt)
    again = box.deliver_due({"pager": notifier}, clock.now(), limit=2)
    assert again.retrying == ids[:1] and sorted(again.deferred) == ids[1:]
    assert [r.attempts for r in box.rows()] == [2, 0, 0, 0, 0, 0]
    assert box.next_due() == again.unreachable["pager"] > nxt


# -- expiry ------------------------------------------------------------------------------------


def test_deferred_rows_past_their_expiry_expire_unattempted_the_others_wait(
    box: Outbox, clock: FakeClock
) -> None:
    """Decision: a row the pass did not try because its receiver is down still expires at
    its deadline (as it would have had it been tried), and its log entry is forgotten so
    the group's next flush queues it again; a row whose deadline is still ahead waits."""
    old = [queue(box, "pager", g, T0, ("fp",)) for g in GROUPS[:3]]
    young = [queue(box, "pager", g, T0 + timedelta(minutes=50), ("fp",)) for g in GROUPS[3:]]
    clock.set(T0 + timedelta(minutes=70))  # expire_after is 1 h: the first three are past it
    report = box.deliver_due({"pager": pager(refused_url())}, clock.now())
    assert sorted(report.expired) == old and sorted(report.deferred) == young
    assert report.retrying == [] and report.unreachable.keys() == {"pager"}
    rows = stored(box)
    assert [rows[i][:2] for i in old] == [("expired", 1), ("expired", 0), ("expired", 0)]
    assert [rows[i][:2] for i in young] == [("pending", 0)] * 3
    assert rows[old[1]][3].startswith("not attempted: receiver unreachable")
    assert [box.last_notified(g, "pager") is None for g in GROUPS] == [True] * 3 + [False] * 3


def test_a_deferred_row_whose_deadline_passes_while_it_waits_is_tried_then_expires(
    box: Outbox, clock: FakeClock
) -> None:
    first = queue(box, "pager", GROUPS[0], T0, ("fp",))
    second = queue(box, "pager", GROUPS[1], T0 + timedelta(seconds=2), ("fp",))
    clock.set(T0 + timedelta(minutes=59, seconds=58))  # both deadlines (+1 h) still ahead
    notifier = pager(refused_url())
    report = box.deliver_due({"pager": notifier}, clock.now())
    assert report.retrying == [first] and report.deferred == [second]
    nxt = box.next_due()  # the backoff (5-10 s) ends after both deadlines
    assert nxt is not None and nxt > T0 + timedelta(hours=1, seconds=2)
    clock.set(nxt)  # the first is tried and expires; the second expires unattempted
    report = box.deliver_due({"pager": notifier}, clock.now())
    assert report.expired == [first, second] and report.deferred == []
    assert [r.attempts for r in box.rows()] == [2, 0]


# -- every notifier tells unreachable from an answer -------------------------------------------


@pytest.mark.parametrize("kind", sorted(conformance.KINDS))
def test_http_notifiers_mark_timeouts_and_refusals_unreachable_but_no_answer(
    receiver: Receiver, kind: str
) -> None:
    make = conformance.KINDS[kind]
    receiver.script = [("sleep", conformance.STALLED_S + 3)]
    stalled = make(receiver.url, timeout=conformance.STALLED_S).notify(conformance.batch())
    assert (stalled.ok, stalled.retryable, stalled.unreachable) == (False, True, True)
    refused = make(refused_url()).notify(conformance.batch())
    assert (refused.ok, refused.retryable, refused.unreachable) == (False, True, True)
    for status in (500, 503, 429, 404, 202):
        receiver.script = [status]
        answered = make(receiver.url).notify(conformance.batch())
        assert not answered.unreachable, (status, answered.reason)
    bad = post_json("htp://127.0.0.1:9/x", {}, timeout=1)
    assert not bad.retryable and not bad.unreachable


@pytest.fixture
def greylisting() -> Iterator[Controller]:
    """A real SMTP server that answers every RCPT with 451: reachable, but refusing."""
    server = Controller(_Greylisting(times=1000), hostname="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.stop()


def test_email_refused_smtp_port_is_unreachable_a_4xx_reply_is_not(
    greylisting: Controller,
) -> None:
    one = batch("mail", "g")
    refused = email_notifier(free_port()).notify(one)
    assert (refused.ok, refused.retryable, refused.unreachable) == (False, True, True)
    greylisted = email_notifier(greylisting.port).notify(one)
    assert (greylisted.ok, greylisted.retryable, greylisted.unreachable) == (False, True, False)
    assert "451" in greylisted.reason


def test_email_outbox_defers_behind_a_refused_smtp_port_not_behind_a_4xx(
    greylisting: Controller, box: Outbox, clock: FakeClock
) -> None:
    down = queue_groups(box, "down")
    grey = queue_groups(box, "grey")
    notifiers = {"down": email_notifier(free_port()), "grey": email_notifier(greylisting.port)}
    report = box.deliver_due(notifiers, clock.now())
    assert sorted(report.deferred) == down[1:] and report.unreachable.keys() == {"down"}
    assert sorted(report.retrying) == [down[0], *grey]  # every greylisted mail was tried
    rows = stored(box)
    assert [rows[i][1] for i in down] == [1, 0, 0, 0, 0, 0]
    assert [rows[i][1] for i in grey] == [1] * 6
