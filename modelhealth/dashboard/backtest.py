"""Where a config would have fired on the plotted history: replay its rules tick by tick.

Uses ``modelhealth.rules.backtest`` when the rules engine provides one; otherwise replays
``Evaluator.tick(now)`` at past times with an in-memory state store (the evaluator is pure
apart from its state, so a replay is the live code path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from modelhealth.clock import from_epoch_ms
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.durations import format_duration
from modelhealth.store.backend import QueryBackend
from modelhealth.types import AlertState

FIRING_COLUMNS = ["rule", "severity", "labels", "start", "end"]
MAX_TICKS = 300
"""Ticks per replay: a day of 5-minute buckets (the default range) is replayed whole; a tick
costs about 0.2 s with a learned rule, so a longer range widens the step (and says so)."""
MINUTE_MS = 60_000


@dataclass(frozen=True)
class TickPlan:
    """When a replay ticks: every ``step_ms`` on the epoch-aligned grid of ``bucket_ms``.

    The scheduler (``rules run``) ticks on epoch-aligned slots, so at every boundary of a
    rule's buckets; a replay ticking between them judged windows no bucket boundary ends,
    and a learned rule's one-bucket alert fell between two ticks (QA: the Configs page
    missed fraud v3's alert that the learned panel below it showed)."""

    times: list[datetime]
    step_ms: int
    bucket_ms: int

    @property
    def skipped(self) -> int:
        """Grid buckets judged by no tick between two ticks (0: every bucket replayed)."""
        return self.step_ms // self.bucket_ms - 1

    def note(self) -> str:
        """What the replay judges, and what it leaves out when the range is long."""
        every = format_duration(timedelta(milliseconds=self.step_ms))
        bucket = format_duration(timedelta(milliseconds=self.bucket_ms))
        if not self.skipped:
            return f"a tick at every {bucket} bucket boundary, as the scheduler judges them"
        longest = format_duration(timedelta(milliseconds=self.bucket_ms * MAX_TICKS))
        k = self.step_ms // self.bucket_ms
        return (
            f"a tick every {every}, at one {bucket} bucket boundary in {k} (at most "
            f"{MAX_TICKS} ticks per replay): {self.skipped} of every {k} buckets are not "
            f"judged, so an alert that lasts less than {every} may be missed; pick a range of "
            f"at most {longest} to replay every bucket"
        )


def bucket_ms(rules: Sequence[RuleSpec]) -> int:
    """The grid a replay ticks on: the smallest rule window (its bucket boundaries are where
    the scheduler judges whole buckets), refined to divide the shortest ``for:`` so a hold is
    timed as finely as before; whole minutes, as the scheduler's slots."""
    windows = [int(r.window.total_seconds() * 1000) for r in rules if r.window > timedelta(0)]
    grid = min(windows, default=5 * MINUTE_MS)
    holds = [int(r.hold_for.total_seconds() * 1000) for r in rules if r.hold_for > timedelta(0)]
    finest = min([grid, *holds])
    divisors = [d for d in range(MINUTE_MS, finest + 1, MINUTE_MS) if grid % d == 0]
    return max(divisors, default=MINUTE_MS)


def tick_plan(start_ms: int, end_ms: int, rules: Sequence[RuleSpec]) -> TickPlan:
    """Ticks in ``(start_ms, end_ms]`` on the rules' bucket grid, at most MAX_TICKS: a long
    range ticks every k-th boundary (whole multiples of the bucket, still on the grid)."""
    bucket = bucket_ms(rules)
    k = max(-(-_on_grid(start_ms, end_ms, bucket) // MAX_TICKS), 1)
    while _on_grid(start_ms, end_ms, k * bucket) > MAX_TICKS:  # alignment may add one
        k += 1
    step = k * bucket
    first = start_ms // step * step + step
    return TickPlan([from_epoch_ms(t) for t in range(first, end_ms + 1, step)], step, bucket)


def _on_grid(start_ms: int, end_ms: int, step: int) -> int:
    """How many multiples of ``step`` lie in ``(start_ms, end_ms]``."""
    return max(end_ms // step - start_ms // step, 0)


def tick_times(start_ms: int, end_ms: int, rules: Sequence[RuleSpec]) -> list[datetime]:
    """The ticks of :func:`tick_plan` (bucket boundaries in ``(start_ms, end_ms]``)."""
    return tick_plan(start_ms, end_ms, rules).times


def replay(
    rules: Sequence[RuleSpec],
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    start_ms: int,
    end_ms: int,
) -> pd.DataFrame:
    """Firing spans ``rule severity labels start end`` over ``[start_ms, end_ms)``."""
    plan = tick_plan(start_ms, end_ms, rules)
    times = plan.times
    if not times:
        return pd.DataFrame(columns=FIRING_COLUMNS)
    try:
        from modelhealth.rules.backtest import backtest
    except ImportError:  # an engine without backtests: replay the evaluator here
        return _replay(rules, store, references, times, end_ms)
    step = timedelta(milliseconds=plan.step_ms)
    result = backtest(rules, store, times[0], times[-1], step, references=references)
    end = from_epoch_ms(end_ms)
    spans = [
        {
            "rule": f.labels.get("alertname", ""),
            "severity": f.labels.get("severity", ""),
            "labels": _short(f.labels),
            "start": f.fired_at,
            "end": f.resolved_at or end,
        }
        for f in result.firings
    ]
    out = _frame(spans)
    # rules whose replay failed (the store went away, a broken reference): said on the page,
    # not shown as "0 firing spans"
    out.attrs["errors"] = dict(result.errors)
    return out


def _replay(
    rules: Sequence[RuleSpec],
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    times: Sequence[datetime],
    end_ms: int,
) -> pd.DataFrame:
    from modelhealth.rules.evaluator import Evaluator  # lazy: only the Configs page needs it
    from modelhealth.rules.state import AlertStateStore

    ev = Evaluator(list(rules), store, references=dict(references), state=AlertStateStore())
    open_: dict[str, dict[str, object]] = {}
    spans: list[dict[str, object]] = []
    for now in times:
        report = ev.tick(now)
        for alert in report.changed:
            key = alert.fingerprint + alert.name
            if alert.state == AlertState.FIRING and key not in open_:
                open_[key] = {
                    "rule": alert.name,
                    "severity": alert.labels.get("severity", ""),
                    "labels": _short(alert.labels),
                    "start": alert.fired_at or now,
                }
            elif alert.is_resolved and key in open_:
                spans.append({**open_.pop(key), "end": alert.resolved_at or now})
    end = from_epoch_ms(end_ms)
    spans.extend({**s, "end": end} for s in open_.values())
    return _frame(spans)


def _frame(spans: list[dict[str, object]]) -> pd.DataFrame:
    out = pd.DataFrame(spans, columns=FIRING_COLUMNS)
    if not out.empty:
        out["start"] = pd.to_datetime(out["start"], utc=True)
        out["end"] = pd.to_datetime(out["end"], utc=True)
    return out.sort_values(["rule", "start"], ignore_index=True)


def _short(labels: Mapping[str, str]) -> str:
    skip = {"alertname", "severity", "metric", "model", "team"}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)
