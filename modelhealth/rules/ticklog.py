"""What ``rules run`` tells its log: alerts as they change state, and one line per tick.

The evaluator hands every firing alert over at every tick (the alerting layer needs the
re-report, see ``Dispatcher.report_interval``), and ``rules run`` printed each of them every
time: a daemon with a few alerts open for days wrote thousands of identical lines a day, and
the line that mattered (an alert starting or ending) was lost among them. ``rules eval``,
one tick, still prints every alert it found."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # modelhealth.types imports numpy: not at the scheduler's start-up
    from modelhealth.rules.evaluator import TickReport
    from modelhealth.types import Alert


class Transitions:
    """The incidents (as handed to delivery) that started firing or resolved since the last
    tick of this process; the first tick after a start names every alert open then, so an
    operator who reads the log from a restart on still sees what is firing.

    An incident is known by its fingerprint; one that stops being reported without a
    resolve (its rule file skipped, say) and comes back is named again."""

    def __init__(self) -> None:
        self._firing: set[str] = set()

    def changed(self, incidents: Iterable[Alert]) -> list[Alert]:
        """``incidents`` that are new as firing, and every resolve (a resolve is reported
        once), in their order."""
        out: list[Alert] = []
        firing: set[str] = set()
        for alert in incidents:
            if alert.is_resolved:
                out.append(alert)
                continue
            firing.add(alert.fingerprint)
            if alert.fingerprint not in self._firing:
                out.append(alert)
        self._firing = firing
        return out


def tick_summary(report: TickReport, pending: int, took: float) -> str:
    """The one line a tick logs, whatever it found (firing and pending count instances, as
    ``rules eval`` counts them; the transitions are logged apart, as they happen)."""
    return (
        f"tick {report.at.isoformat()}: {report.evaluated} rules, {report.instances} instances,"
        f" {report.queries} queries, {len(report.firing)} firing, {pending} pending,"
        f" {len(report.errors)} errors in {took:.2f}s"
    )


def pending_count(alerts: Sequence[Alert]) -> int:
    """How many remembered alerts wait out their rule's ``for:``."""
    from modelhealth.types import AlertState

    return sum(1 for a in alerts if a.state is AlertState.PENDING and not a.is_resolved)
