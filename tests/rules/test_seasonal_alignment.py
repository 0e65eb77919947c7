"""Seasonal detectors judge the newest complete window on the clock's grid.

A QA pass found a ``seasonal`` rule (count, 1h window, season 1w) paging at 00:20 and
00:30 on traffic identical every week: the window ``[23:20, 00:20)`` was compared with last
week's grid bucket ``23:00-00:00``, and traffic steps up at midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from modelhealth.ingestion import Monitor
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import AlertState

MIDNIGHT = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
RULES = """
model: q
rules:
  - name: weekly
    metric: count
    window: 1h
    detector: {type: seasonal, season: 1w, periods: 3, k: 3}
"""


def _store(tmp_path: Path, surge: bool) -> DuckDBStore:
    """Four weeks of 22:00-02:00: 50 calls a minute before midnight, 150 after; with
    ``surge``, this week's 23:00-00:00 gets three times its calls."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    monitor = Monitor(DuckDBSink(store), {})
    for week in range(4):
        at = MIDNIGHT - timedelta(days=7 * week)
        ts: list[int] = []
        for minute in range(-120, 120):
            per = 50 if minute < 0 else 150
            if surge and week == 0 and -60 <= minute < 0:
                per *= 3
            start = int((at + timedelta(minutes=minute)).timestamp() * 1000)
            ts += [start + i * 60_000 // per for i in range(per)]
        n = len(ts)
        monitor.log_batch(model="q", version="v1", features={"x": np.ones(n)},
                          score=np.full(n, 0.5), latency_ms=np.full(n, 10.0),
                          ts_ms=np.asarray(ts, dtype=np.int64))  # fmt: skip
    monitor.close()
    return store


def _firing(ev: Evaluator, at: datetime) -> list:
    ev.tick(at)
    return [a for a in ev.state.alerts.values() if a.state is AlertState.FIRING]


def test_weekly_traffic_that_steps_at_midnight_raises_nothing(tmp_path: Path) -> None:
    ev = Evaluator(load_rules_text(RULES, "r.yaml").rules, _store(tmp_path, surge=False))
    for minute in (-30, 0, 20, 30, 50, 60, 80):
        assert _firing(ev, MIDNIGHT + timedelta(minutes=minute)) == [], minute


def test_a_surge_pages_for_the_complete_hour_and_says_which_it_judged(tmp_path: Path) -> None:
    ev = Evaluator(load_rules_text(RULES, "r.yaml").rules, _store(tmp_path, surge=True))
    assert _firing(ev, MIDNIGHT - timedelta(minutes=10)) == []  # 23:00-00:00 not complete
    (alert,) = _firing(ev, MIDNIGHT + timedelta(minutes=10))
    assert alert.value == 9000  # 23:00-00:00 at 150 a minute, against 3000 in past weeks
    assert alert.annotations["judged_from"] == (MIDNIGHT - timedelta(hours=1)).isoformat()
    assert alert.annotations["judged_to"] == MIDNIGHT.isoformat()
    assert "complete window" in alert.annotations["judged_note"]
