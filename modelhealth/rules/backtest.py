"""Replay a rule config over stored history: when would each rule have fired?

Runs the live :class:`~modelhealth.rules.evaluator.Evaluator` (same planning, queries,
detectors and state machine) at every ``step`` from ``start`` to ``end`` with an in-memory state
and no notifier, so owners tune thresholds and ``for:`` before enabling a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelhealth.clock import FakeClock
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.durations import format_duration
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.backend import QueryBackend
from modelhealth.types import Alert, AlertState

MAX_TICKS = 100_000
"""The most ticks ``rules backtest`` replays unless ``--max-ticks`` says otherwise. A tick
evaluates every rule: about 10 ms for one threshold rule on the embedded store, 25 ms for
two ``change`` rules, a second for the demo's 21 rules with learned detectors (2 cores), so
100,000 ticks take from 20 minutes to a day (a year at 5-minute steps is 105,121).
``--since 520w --step 1s`` planned 314 million and never finished."""


def planned_ticks(since: timedelta, step: timedelta) -> int:
    """Ticks a backtest of ``since`` every ``step`` runs (both ends included)."""
    return int(since / step) + 1


def tick_budget_problem(
    since: timedelta, step: timedelta, max_ticks: int | None = None
) -> str | None:
    """None when ``since``/``step`` fit under ``max_ticks`` (``--max-ticks``; None: the
    default cap :data:`MAX_TICKS`), else what to change: the shortest ``--step`` and the
    longest ``--since`` (in whole units) that do, or the ``--max-ticks`` that runs them all."""
    cap = MAX_TICKS if max_ticks is None else max_ticks
    if cap < 1:
        raise ValueError(f"max_ticks must be a positive integer, not {cap}")
    n = planned_ticks(since, step)
    if n <= cap:
        return None
    longest = cap - 1  # steps a backtest may take
    span = int(since.total_seconds())
    min_step = _whole(-(-span // longest) if longest else span + 1, up=True)
    max_since = _whole(int(step.total_seconds() * longest), up=False)
    cap_words = f"the {cap:,} a backtest may run" if max_ticks is None else f"--max-ticks {cap}"
    return (
        f"plans {n:,} ticks, more than {cap_words} (--max-ticks {n} runs them all); use"
        f" --step {format_duration(min_step)} or more, or --since {format_duration(max_since)}"
        " or less"
    )


def _whole(seconds: int, up: bool) -> timedelta:
    """``seconds`` rounded to whole days, hours or minutes, else seconds: up to the largest
    unit it holds (a step: ``6m`` for 316 s), down to the largest it holds ten of (a span:
    ``27h``, not ``1d``, for 27.8 hours)."""
    for unit in (86400, 3600, 60):
        if seconds >= (1 if up else 10) * unit:
            n = -(-seconds // unit) if up else seconds // unit
            return timedelta(seconds=n * unit)
    return timedelta(seconds=max(seconds, 1))


@dataclass(frozen=True)
class Firing:
    """One alert episode: when it fired and (if it did) resolved."""

    labels: Mapping[str, str]
    fired_at: datetime
    resolved_at: datetime | None
    value: float
    detail: str

    def describe(self) -> str:
        lb = ", ".join(
            f"{k}={v}" for k, v in sorted(self.labels.items()) if k not in ("severity", "metric")
        )
        end = self.resolved_at.isoformat() if self.resolved_at else "still firing"
        return f"{self.fired_at.isoformat()} -> {end}  {lb}  ({self.detail})"


@dataclass
class BacktestResult:
    firings: list[Firing] = field(default_factory=list)
    ticks: int = 0
    queries: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def backtest(
    rules: Sequence[RuleSpec],
    store: QueryBackend,
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(minutes=5),
    *,
    references: Mapping[str, ModelReference] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Tick from ``start`` to ``end`` (inclusive) and collect every firing episode."""
    if step <= timedelta(0) or end < start:
        raise ValueError("backtest needs step > 0 and start <= end")
    clock = FakeClock(start)
    ev = Evaluator(rules, store, references=references, state=AlertStateStore(), clock=clock)
    result = BacktestResult()
    open_: dict[str, tuple[Alert, str]] = {}
    total = int((end - start) / step) + 1
    for i in range(total):
        now = start + i * step
        clock.set(now)
        report = ev.tick(now)
        result.ticks += 1
        result.queries += report.queries
        result.errors.update(report.errors)
        for a in report.changed:
            if a.state == AlertState.FIRING and not a.is_resolved:
                open_[a.fingerprint] = (a, a.annotations.get("detail", ""))
            elif a.is_resolved and a.fingerprint in open_:
                fired, detail = open_.pop(a.fingerprint)
                result.firings.append(_episode(fired, detail, a.resolved_at))
        if progress is not None:
            progress(i + 1, total)
    result.firings.extend(_episode(a, d, None) for a, d in open_.values())
    result.firings.sort(key=lambda f: (f.fired_at, sorted(f.labels.items())))
    return result


def _episode(alert: Alert, detail: str, resolved_at: datetime | None) -> Firing:
    return Firing(
        dict(alert.labels),
        alert.fired_at or alert.active_at,
        resolved_at,  # type: ignore[arg-type]
        alert.value,
        detail,
    )
