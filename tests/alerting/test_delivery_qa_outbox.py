"""QA findings 2, 7 and 8 (outbox side): receivers delivered in parallel, old rows pruned,
a receiver's Retry-After honoured."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from modelhealth.alerting.config import DeliverySpec
from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.outbox import Outbox
from modelhealth.alerting.sqlite import to_ms

from .conftest import T0, Receiver, firing

ENV = {"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k-123456"}


def batch(receiver: str, group: str, status: str = "firing") -> NotificationBatch:
    return NotificationBatch(
        receiver=receiver,
        group_key=group,
        dedup_key=f"dk-{group}",
        status=status,
        reason="new_alerts",
        group_labels={"model": group},
        alerts=[firing(model=group).to_dict()],
        created_at=T0.isoformat(),
    )


def queue(box: Outbox, receiver: str, group: str, at: datetime, firing: tuple[str, ...]) -> int:
    row = box.enqueue(
        batch(receiver, group), at, group_key=group, receiver=receiver, firing=firing, resolved=()
    )
    assert row is not None
    return row


def pager(receiver: Receiver, timeout: float) -> PagerDutyNotifier:
    return PagerDutyNotifier(PagerDutyConfig(url=receiver.url, timeout=timeout), env=ENV)


HUNG_TIMEOUT_S = 5.0  # how long the hung page holds its thread: ample for 4 loopback pages


def test_a_hung_receiver_does_not_delay_the_others() -> None:
    """While the hung receiver's first page waits out its timeout, the other receiver gets
    all four of its pages: each receiver is delivered from a thread of its own.

    Checked by what the receivers saw, not by how long the pass took (that bound failed by
    chance on a busy box): the other receiver's first request waits until the hung one has
    its first request, then each of the other's requests notes how many requests the hung
    receiver has had by then. Delivered one receiver after the other, that is 0 or 4 every
    time (1, 2, 3, 4 row by row); in parallel it is 1 every time.

    The hung page holds its thread but answers (504) before the client's timeout: a timeout
    would mark the receiver unreachable, the outbox would then not try its other pages in
    this pass (see test_unreachable_receiver_s21), and the count would be 1 either way.
    """
    hung, other = Receiver(), Receiver()
    hung_is_holding = threading.Event()
    hung_requests_seen_by_other: list[int] = []

    def note_hung_requests() -> None:
        hung_is_holding.wait(timeout=30)
        hung_requests_seen_by_other.append(hung.attempts)

    try:
        hung.script = [("sleep", HUNG_TIMEOUT_S)]  # holds the page, then answers 504
        hung.default = 503  # its later pages fail at once
        hung.on_post = hung_is_holding.set
        other.on_post = note_hung_requests
        box = Outbox(":memory:")
        for g in "abcd":
            queue(box, "hung", g, T0, ("fp",))
            queue(box, "other", g, T0, ("fp",))
        notifiers = {"hung": pager(hung, HUNG_TIMEOUT_S + 60), "other": pager(other, 60)}
        report = box.deliver_due(notifiers, T0)
    finally:
        hung.close()
        other.close()
    assert sorted(report.sent) == [2, 4, 6, 8] and sorted(report.retrying) == [1, 3, 5, 7]
    assert len(other.bodies) == 4
    assert hung_requests_seen_by_other == [1, 1, 1, 1], (
        f"the other receiver's pages went out after {hung_requests_seen_by_other} of the hung "
        "receiver's: receivers were delivered one by one"
    )
    assert box.counts() == {"sent": 4, "pending": 4}


def test_rows_of_one_group_and_receiver_stay_in_order_across_receivers() -> None:
    first, other = Receiver(), Receiver()
    try:
        box = Outbox(":memory:")
        for _ in range(3):
            queue(box, "first", "g", T0, ("fp",))
            queue(box, "other", "g", T0, ("fp",))
        notifiers = {"first": pager(first, 5), "other": pager(other, 5)}
        passes = [box.deliver_due(notifiers, T0 + timedelta(seconds=i)).sent for i in range(4)]
    finally:
        first.close()
        other.close()
    assert [sorted(p) for p in passes] == [[1, 2], [3, 4], [5, 6], []]


class Throttled:
    """A receiver answering 429 with Retry-After: 5 min, then accepting."""

    def __init__(self) -> None:
        self.calls = 0

    def notify(self, batch: NotificationBatch) -> Outcome:
        self.calls += 1
        if self.calls == 1:
            return Outcome(False, True, "HTTP 429", retry_after=timedelta(minutes=5))
        return Outcome.success()


def test_retry_after_postpones_the_next_attempt() -> None:
    box = Outbox(":memory:", DeliverySpec(min_backoff=timedelta(seconds=10)))
    queue(box, "r", "g", T0, ("fp",))
    n = Throttled()
    assert box.deliver_due({"r": n}, T0).retrying == [1]
    for s in (10, 30, 60, 299):  # the backoff alone would retry within 20 s
        assert box.deliver_due({"r": n}, T0 + timedelta(seconds=s)).sent == []
    assert n.calls == 1
    # due 5 minutes after the attempt's end, which is a few ms after T0
    assert box.deliver_due({"r": n}, T0 + timedelta(minutes=5, seconds=1)).sent == [1]


def sent_everything(box: Outbox, at: datetime) -> None:
    class Ok:
        def notify(self, batch: NotificationBatch) -> Outcome:
            return Outcome.success()

    box.deliver_due({"r": Ok(), "other": Ok()}, at)


def test_finished_rows_older_than_the_retention_are_pruned_hourly(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "alerts.db")
    queue(box, "r", "open", T0, ("fp",))  # an incident still open: its log entry stays
    box.enqueue(batch("r", "done"), T0, group_key="done", receiver="r", firing=["fp"], resolved=())
    sent_everything(box, T0)
    box.enqueue(batch("r", "done", "resolved"), T0, group_key="done", receiver="r", firing=(),
                resolved=["fp"])  # fmt: skip
    sent_everything(box, T0 + timedelta(minutes=1))
    queue(box, "other", "late", T0 + timedelta(days=6), ("fp",))  # pending, never pruned
    assert box.counts() == {"sent": 3, "pending": 1}
    assert box.prune(T0 + timedelta(days=7, hours=1)) == 3
    assert box.counts() == {"pending": 1}
    assert box.last_notified("open", "r") is not None  # the receiver has an open incident
    assert box.last_notified("late", "other") is not None
    assert box.last_notified("done", "r") is None  # "nothing firing" means the same as no entry
    old = queue(box, "r", "old", T0, ("fp",))
    sent_everything(box, T0)
    sent_everything(box, T0 + timedelta(days=7, hours=1, minutes=10))
    assert old in [r.id for r in box.rows()]  # pruning ran less than an hour ago: kept for now
    sent_everything(box, T0 + timedelta(days=7, hours=2, minutes=1))
    assert old not in [r.id for r in box.rows()]


def test_an_outbox_file_from_before_the_told_columns_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, receiver TEXT NOT NULL,"
        " group_key TEXT NOT NULL, dedup_key TEXT NOT NULL, status TEXT NOT NULL DEFAULT"
        " 'pending', payload TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT"
        " NULL, next_attempt_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " last_error TEXT NOT NULL DEFAULT '', sent_at INTEGER)"
    )
    con.execute(
        "CREATE TABLE nflog (group_key TEXT NOT NULL, receiver TEXT NOT NULL, firing TEXT NOT"
        " NULL, resolved TEXT NOT NULL, notified_at INTEGER NOT NULL,"
        " PRIMARY KEY (group_key, receiver))"
    )
    at = to_ms(T0)
    con.execute(
        "INSERT INTO outbox (receiver, group_key, dedup_key, payload, created_at, expires_at,"
        " next_attempt_at) VALUES ('r', 'g', 'dk', ?, ?, ?, ?)",
        (batch("r", "g").to_json(), at, at + 3_600_000, at),
    )
    con.execute("INSERT INTO nflog VALUES ('g', 'r', '[\"fp\"]', '[]', ?)", (at,))
    con.commit()
    con.close()
    box = Outbox(path)
    assert box.unsettled("g", "r") is None  # an old pending row: nothing can be ruled out
    sent_everything(box, T0)
    assert box.counts() == {"sent": 1} and box.unsettled("g", "r") == {"fp"}
