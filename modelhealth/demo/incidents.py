"""The incident timeline the demo injects, relative to the demo's start time ``t0``.

Each incident names the rule expected to catch it, so tests can assert detection one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

Columns = dict[str, np.ndarray]
Apply = Callable[[Columns, np.ndarray, np.random.Generator], None]


@dataclass(frozen=True)
class Incident:
    """A change to one model's traffic from ``start`` (offset from t0) on, until ``end``."""

    key: str
    title: str
    model: str
    start: timedelta
    apply: Apply
    expected_rule: str
    version: str | None = None
    feature: str | None = None
    end: timedelta | None = None

    def mask(self, ts_ms: np.ndarray, t0_ms: int) -> np.ndarray:
        lo = t0_ms + int(self.start.total_seconds() * 1000)
        m = ts_ms >= lo
        if self.end is not None:
            m &= ts_ms < t0_ms + int(self.end.total_seconds() * 1000)
        return m


def _ui_migration(cols: Columns, m: np.ndarray, rng: np.random.Generator) -> None:
    cols["ui_session_minutes"][m] = cols["ui_session_minutes"][m] * 2.2 + 5.0


def _constant_ctr(cols: Columns, m: np.ndarray, rng: np.random.Generator) -> None:
    cols["ctr_7d"][m] = 0.0


def _slow_tail(cols: Columns, m: np.ndarray, rng: np.random.Generator) -> None:
    slow = m & (rng.random(m.size) < 0.05)
    cols["__latency_ms"][slow] += rng.uniform(250.0, 400.0, int(slow.sum()))


def _null_spike(cols: Columns, m: np.ndarray, rng: np.random.Generator) -> None:
    hit = m & (rng.random(m.size) < 0.35)
    col = cols["merchant_category"].astype(object)
    col[hit] = None
    cols["merchant_category"] = col


INCIDENTS: tuple[Incident, ...] = (
    Incident(
        key="ui-migration",
        title="UI migration doubles churn.ui_session_minutes",
        model="churn",
        start=timedelta(hours=-6),
        apply=_ui_migration,
        expected_rule="feature-drift",
        feature="ui_session_minutes",
    ),
    Incident(
        key="constant-feature",
        title="ranker v2 ships with ctr_7d stuck at 0",
        model="ranker",
        version="v2",
        start=timedelta(hours=-4),
        apply=_constant_ctr,
        expected_rule="constant-feature",
        feature="ctr_7d",
    ),
    Incident(
        key="latency-regression",
        title="fraud v3 p99 latency regression (p50 unchanged)",
        model="fraud",
        version="v3",
        start=timedelta(hours=-3),
        apply=_slow_tail,
        expected_rule="p99-latency",
    ),
    Incident(
        key="null-spike",
        title="fraud.merchant_category null-rate spike",
        model="fraud",
        start=timedelta(hours=-2),
        apply=_null_spike,
        expected_rule="null-rate",
        feature="merchant_category",
    ),
)

LAUNCHES: dict[tuple[str, str], timedelta] = {("ranker", "v2"): timedelta(hours=-4)}
"""Model versions that start serving at an offset from t0 (and then take half the traffic)."""
