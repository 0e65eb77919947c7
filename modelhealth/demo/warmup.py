"""The demo's quiet replay of the rules over its backfilled history, before it goes live.

The incidents start hours before t0 (:data:`~modelhealth.demo.incidents.INCIDENTS`); the
rules must see them start then too, or the Alerts page says every alert is open "since" the
first replayed minute and the incident timeline starts all of them together. The replay
writes the alert state and history the dashboard reads, with no notifier attached: the
demo's emails and pages go out from t0 on, as a rules engine started at t0 would send them
(the dispatcher sends an alert that fired before it was attached at once).

A tick costs over half a second (21 rules, the learned ``p99-learned`` the most; 2 cores),
so the long stretch is ticked on a coarse grid and only the last minutes every minute,
where the ``for:`` timers of the alerts open at t0 are settled exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from modelhealth.demo.incidents import INCIDENTS, Incident
from modelhealth.rules.evaluator import Evaluator

STEP = timedelta(minutes=20)
"""Cadence of the long stretch, on the clock's grid (so on the rules' 5-minute buckets too).
A tick of the demo's 21 rules took ~0.65 s on 2 cores shared with other work, so a 7-hour
replay at this step (35 ticks) takes ~12-15 s more than the 15 one-minute ticks the demo
ran before; at 15 minutes it was ~18 s more, at 5 minutes over a minute. An alert opens at most
one step after its window crosses the threshold (3-25 minutes into the demo's incidents);
a learned-detector alert shorter than a step can fall between two ticks (the dashboard's
Configs page plots that rule's band and alerts over the whole history anyway)."""
FINE = timedelta(minutes=15)
"""The last stretch before t0, ticked every minute: the alerts open at t0 and their ``for:``
timers end up as a minute-by-minute evaluation leaves them (the demo's replay before)."""
MARGIN = timedelta(hours=1)
"""Replayed before the earliest incident: the longest window of the example rules, so the
first ticks judge windows with no incident traffic and the timeline shows a quiet start."""

Progress = Callable[[int, int], None]


def replay_start(t0: datetime, days: float, incidents: Sequence[Incident] = INCIDENTS) -> datetime:
    """Where the replay starts: :data:`MARGIN` before the earliest incident, but not before
    the backfill (``--days`` shorter than that has no older rows to judge)."""
    earliest = min((inc.start for inc in incidents), default=timedelta(0))
    return max(t0 + earliest - MARGIN, t0 - timedelta(days=days))


def replay_ticks(start: datetime, t0: datetime, step: timedelta = STEP) -> list[datetime]:
    """Tick times from ``start`` up to t0 (excluded): every ``step`` on the clock's grid,
    then every minute over the :data:`FINE` stretch before t0."""
    fine_from = t0 - FINE
    ticks: list[datetime] = []
    at = _ceil(start, step)
    while at < fine_from:
        ticks.append(at)
        at += step
    minute = timedelta(minutes=1)
    at = max(fine_from, _ceil(start, minute))
    while at < t0:
        ticks.append(at)
        at += minute
    return ticks


def replay(
    evaluator: Evaluator, ticks: Sequence[datetime], progress: Progress | None = None
) -> None:
    """Tick ``evaluator`` at each of ``ticks`` with its notifier detached (restored after),
    so the replay fills the alert state and history and tells nobody."""
    notify, evaluator.notify = evaluator.notify, None
    try:
        for done, at in enumerate(ticks, start=1):
            evaluator.tick(at)
            if progress is not None:
                progress(done, len(ticks))
    finally:
        evaluator.notify = notify


def warm_up(
    evaluator: Evaluator, t0: datetime, days: float, progress: Progress | None = None
) -> list[datetime]:
    """Replay the rules quietly from :func:`replay_start` to just before t0; return the
    ticks run (the caller attaches its notifier and ticks t0 itself)."""
    ticks = replay_ticks(replay_start(t0, days), t0)
    replay(evaluator, ticks, progress)
    return ticks


def _ceil(at: datetime, step: timedelta) -> datetime:
    """``at`` rounded up to a multiple of ``step`` since the epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=at.tzinfo or UTC)
    n = -(-(at - epoch) // step)
    return epoch + n * step
