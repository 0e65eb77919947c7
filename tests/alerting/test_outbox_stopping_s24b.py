"""A delivery pass asked to stop (``Outbox.stopping``) ends after the attempt under way.

It went on through every due notification: behind a slow receiver a long queue outlived
the scheduler's stop timeout, and the process exited with pages sent but not marked sent
(sent again at the next start)."""

from __future__ import annotations

import threading

from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.outbox import Outbox
from modelhealth.alerting.sqlite import to_ms

from .conftest import T0, Receiver
from .test_delivery_qa_outbox import ENV, queue


def test_a_stopping_pass_releases_the_rows_it_did_not_attempt() -> None:
    """Three pages of three groups to one receiver; stop is asked while the first is in
    flight: it is marked sent, the other two stay pending, unattempted and due at once."""
    hook = Receiver()
    arrived, release = threading.Event(), threading.Event()
    hook.on_post = lambda: (arrived.set(), release.wait(10))
    box = Outbox(":memory:")
    ids = [queue(box, "pager", g, T0, firing=(g,)) for g in ("a", "b", "c")]
    notifiers = {"pager": PagerDutyNotifier(PagerDutyConfig(url=hook.url, timeout=10), env=ENV)}
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(box.deliver_due(notifiers, T0)))
    try:
        worker.start()
        assert arrived.wait(10), "the first page never arrived"
        box.stopping.set()
        release.set()
        worker.join(10)
        assert not worker.is_alive()
        assert hook.attempts == 1
        rows = {r.id: r for r in box.rows()}
        assert rows[ids[0]].status == "sent"
        assert [(rows[i].status, rows[i].attempts) for i in ids[1:]] == [("pending", 0)] * 2
        with box.transaction() as con:
            due = [con.execute("SELECT next_attempt_at FROM outbox WHERE id = ?", (i,)).fetchone()
                   for i in ids[1:]]  # fmt: skip
        assert due == [(to_ms(T0),)] * 2
        box.stopping.clear()  # the next pass (the next start) sends them
        box.deliver_due(notifiers, T0)
        assert hook.attempts == 3
        assert {r.status for r in box.rows()} == {"sent"}
    finally:
        release.set()
        hook.close()
        box.close()
