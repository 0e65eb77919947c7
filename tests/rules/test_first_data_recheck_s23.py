"""A model without data is not asked for its first data at every tick.

``Evaluator._recall_first_data`` forgot every "no data" answer at each tick, so each model
with a count/qps baseline rule and no data (never deployed, or retired and purged) cost one
``time_range`` query per tick: a fleet config with 200 such models, 200 queries a minute.
Such an answer is now kept for ``NO_DATA_RECHECK_MS`` of tick time. A kept "no data" must
never make a rule judge what it would not judge with a fresh answer: the history of a model
that started sending since keeps no partial first bucket (rows in a history mean data), and
the verdicts tick by tick equal those of an evaluator that asks afresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import NO_DATA_RECHECK_MS, Evaluator, TickReport
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
GHOSTS = [f"ghost{i}" for i in range(5)]


class _Counting:
    """A store that records its time_range calls."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store
        self.asked: list[tuple[object, ...]] = []

    def time_range(self, *args: object, **kwargs: object) -> object:
        self.asked.append((*args, *kwargs.values()))
        return self._store.time_range(*args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def _rules(model: str, body: str) -> list:
    loaded = load_rules_text(f"model: {model}\nrules:\n{body}", f"{model}.yaml")
    assert loaded.ok, loaded.issues
    return loaded.rules


def _vs_last_week(model: str) -> list:
    return _rules(
        model,
        "  - name: count-vs-last-week\n    metric: count\n    window: 5m\n"
        "    baseline: {shift: 7d}\n    detector: {type: change, pct: 50}\n",
    )


def _send(store: DuckDBStore, start: datetime, end: datetime) -> None:
    """Model m's requests with ts in ``[start, end)`` on a 30 s grid from T + 10m30s."""
    first = to_epoch_ms(T + 10 * M + 30 * timedelta(seconds=1))
    lo = max(to_epoch_ms(start), first)
    lo += (first - lo) % 30_000
    ts = np.arange(lo, to_epoch_ms(end), 30_000)
    if len(ts) == 0:
        return
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(end))
    mon.log_batch(model="m", version="v1", features={}, score=np.full(len(ts), 0.5),
                  latency_ms=np.full(len(ts), 20.0), ts_ms=ts)  # fmt: skip
    mon.flush()


def test_a_model_without_data_is_asked_at_most_once_per_recheck_interval() -> None:
    store = DuckDBStore()
    _send(store, T, T + 60 * M)  # one model with data, so the store is not empty
    counting = _Counting(store)
    rules = [r for g in GHOSTS for r in _vs_last_week(g)]
    ev = Evaluator(rules, counting)
    for k in range(60):  # an hour of one-minute ticks
        report = ev.tick(T + k * M)
        assert not report.errors and not ev.state.alerts
        assert set(report.not_judged) == {f"{g}/count-vs-last-week" for g in GHOSTS}
    per_ghost = {g: sum(1 for a in counting.asked if a[0] == g) for g in GHOSTS}
    most = 60 * 60_000 // NO_DATA_RECHECK_MS + 1
    assert all(n <= most for n in per_ghost.values()), per_ghost
    assert NO_DATA_RECHECK_MS <= 5 * 60_000  # a model that starts sending is noticed soon


RULES_M = {
    # history only: the mean of the last five one-minute buckets (its first partial)
    "history": "  - name: r\n    metric: count\n    window: 1m\n"
    "    detector: {type: change, pct: 10, lookback: 5m}\n",
    # a baseline, which asks for m's first data from the first tick, before m has any ...
    "baseline": "  - name: r\n    metric: count\n    window: 1m\n"
    "    baseline: {shift: 5m}\n    detector: {type: change, pct: 10}\n",
    # ... one that lies after the first data 2m30s in, before "no data" is asked again
    "short baseline": "  - name: r\n    metric: count\n    window: 1m\n"
    "    baseline: {shift: 1m}\n    detector: {type: change, pct: 10}\n",
}


def _verdict(report: TickReport) -> tuple[object, ...]:
    firing = sorted((a.labels["alertname"], a.annotations.get("detail", "")) for a in report.firing)
    return report.instances, sorted(report.not_judged), firing


@pytest.mark.parametrize("with_history", [True, False])
@pytest.mark.parametrize("kind", ["baseline", "short baseline"])
def test_kept_no_data_answers_never_change_a_verdict(kind: str, with_history: bool) -> None:
    """Live ticks while model m starts sending (10m30s in, half a one-minute bucket): the
    evaluator that keeps "no data" judges exactly as one that asks afresh at every tick."""
    store = DuckDBStore()
    _send(store, T - 60 * M, T)  # nothing yet: m starts at T + 10m30s
    body = RULES_M[kind] + (
        RULES_M["history"].replace("name: r", "name: h") if with_history else ""
    )
    rules = _rules("m", body)
    kept = Evaluator(rules, store)
    seen_judged = False
    for k in range(40):
        at = T + k * M
        _send(store, at - M, at)  # what arrived during the last minute
        got = _verdict(kept.tick(at))
        fresh = _verdict(Evaluator(rules, store).tick(at))
        assert got == fresh, (at, got, fresh)
        assert got[2] == [], (at, got)  # a steady model: nothing fires
        seen_judged |= got[0] == len(rules)
    assert seen_judged  # every rule judged m once it had been live long enough
