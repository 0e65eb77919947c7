"""A failed notification's backoff counts from the end of its attempt, not from the start of
the delivery pass (QA, round 21).

Counted from the pass's start, a receiver that hung for its whole timeout (2 s here, 10 s by
default) was due again at once when the backoff (1 s here, 5 s by default) was shorter: the
log said "deferred to" a time already past and the next pass tried it straight away. A real
hanging HTTP receiver and a real Outbox in a SQLite file.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from modelhealth.alerting.config import DeliverySpec
from modelhealth.alerting.outbox import Outbox
from modelhealth.clock import FakeClock

from .conftest import Receiver
from .test_unreachable_receiver_s21 import (
    HANG_TIMEOUT_S,
    hanging,  # noqa: F401 (fixture)
    pager,
    queue_groups,
    stored,
)

ONE_SECOND = DeliverySpec(
    min_backoff=timedelta(seconds=1),
    max_backoff=timedelta(seconds=1),
    expire_after=timedelta(hours=1),
)


def test_the_backoff_starts_when_the_hung_attempt_gives_up(
    hanging: Receiver,  # noqa: F811 (fixture)
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    box = Outbox(tmp_path / "alerts.db", ONE_SECOND, rng=random.Random(3))
    ids = queue_groups(box, "pager")
    report = box.deliver_due({"pager": pager(hanging.url, HANG_TIMEOUT_S)}, clock.now())
    assert hanging.attempts == 1 and report.retrying == ids[:1]
    due = stored(box)[ids[0]][2]
    # the attempt took the 2 s timeout; the 1 s backoff (jittered to 0.5-1 s) follows it
    assert due >= clock.now() + timedelta(seconds=HANG_TIMEOUT_S + 0.5)
    assert report.unreachable["pager"] == due
    # so a pass right after this one, still inside the backoff, tries nothing
    again = box.deliver_due(
        {"pager": pager(hanging.url, HANG_TIMEOUT_S)}, clock.now() + timedelta(seconds=1.5)
    )
    assert not again.retrying and not again.deferred and hanging.attempts == 1
