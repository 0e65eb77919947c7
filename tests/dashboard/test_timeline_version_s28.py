"""The incident timeline's rows name the version of a per-version alert.

A ``group_by: [version]`` rule (the demo's ``p99-latency``) fires one alert per version; the
timeline's row was ``model / alert [feature]``, so two versions' episodes shared one row and
the row did not say that it was the v3 canary that paged.
"""

from __future__ import annotations

import pandas as pd
import pytest

from modelhealth.dashboard import charts
from modelhealth.dashboard.views import alerts


def _incidents() -> pd.DataFrame:
    start = pd.Timestamp("2026-11-20 10:00", tz="UTC")
    rows = [
        ("fraud", "p99-latency", None, "v3", 0),
        ("fraud", "p99-latency", None, "v2", 10),
        ("churn", "feature-drift", "ui_session_minutes", None, 20),
        ("ranker", "feature-drift", "ctr_7d", "", 30),
    ]
    return pd.DataFrame(
        {
            "model": [r[0] for r in rows],
            "alertname": [r[1] for r in rows],
            "feature": [r[2] for r in rows],
            "version": [r[3] for r in rows],
            "severity": "critical",
            "state": "firing",
            "summary": "",
            "start": [start - pd.Timedelta(minutes=r[4]) for r in rows],
            "end": start + pd.Timedelta(hours=1),
        }
    )


def test_each_version_of_an_alert_has_its_own_row() -> None:
    inc = _incidents()
    assert list(charts.timeline_row(inc)) == [
        "fraud v3 / p99-latency",
        "fraud v2 / p99-latency",
        "churn / feature-drift [ui_session_minutes]",
        "ranker / feature-drift [ctr_7d]",
    ]
    fig = charts.incident_timeline(inc)
    drawn = {y for trace in fig.data for y in trace.y}
    assert {"fraud v3 / p99-latency", "fraud v2 / p99-latency"} <= drawn


def test_the_row_limit_counts_versions_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for three rows, the two versions take two of them: the oldest row
    (ranker) is the one left out and counted."""
    monkeypatch.setattr(alerts, "MAX_TIMELINE_ROWS", 3)
    shown, left_out = alerts.timeline_rows(_incidents())
    assert left_out == 1
    assert list(shown["model"]) == ["fraud", "fraud", "churn"]
