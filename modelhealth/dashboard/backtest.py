"""Where a config would have fired on the plotted history: replay its rules tick by tick.

Uses ``modelhealth.rules.backtest`` when the rules engine provides one; otherwise replays
``Evaluator.tick(now)`` at past times with an in-memory state store (the evaluator is pure
apart from its state, so a replay is the live code path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pandas as pd

from modelhealth.clock import from_epoch_ms
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.store.backend import QueryBackend
from modelhealth.types import AlertState

FIRING_COLUMNS = ["rule", "severity", "labels", "start", "end"]
MAX_TICKS = 200


def tick_times(start_ms: int, end_ms: int, rules: Sequence[RuleSpec]) -> list[datetime]:
    """Evaluation times over the range: every minute of the shortest ``for``, at most
    MAX_TICKS (coarser ticks delay a firing by at most one tick)."""
    span = end_ms - start_ms
    finest = min((r.hold_for for r in rules if r.hold_for > timedelta(0)), default=None)
    step = int(finest.total_seconds() * 1000) if finest else 300_000
    step = max(step, -(-span // MAX_TICKS), 60_000)
    step = -(-step // 60_000) * 60_000  # whole minutes, so ticks land on bucket boundaries
    first = start_ms + step
    return [from_epoch_ms(t) for t in range(first, end_ms + 1, step)]


def replay(
    rules: Sequence[RuleSpec],
    store: QueryBackend,
    references: Mapping[str, ModelReference],
    start_ms: int,
    end_ms: int,
) -> pd.DataFrame:
    """Firing spans ``rule severity labels start end`` over ``[start_ms, end_ms)``."""
    times = tick_times(start_ms, end_ms, rules)
    if not times:
        return pd.DataFrame(columns=FIRING_COLUMNS)
    try:
        from modelhealth.rules.backtest import backtest
    except ImportError:  # an engine without backtests: replay the evaluator here
        return _replay(rules, store, references, times, end_ms)
    step = times[1] - times[0] if len(times) > 1 else timedelta(minutes=1)
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
    return _frame(spans)


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
