"""The Alerts page shows the incidents of the sidebar's time range, and says how many it
leaves out."""

from __future__ import annotations

import sys
from datetime import timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.sources import history_frame, incidents, overlapping
from modelhealth.rules.state import read_history
from tests.conftest import T0
from tests.dashboard.conftest import Deployment, unescaped
from tests.dashboard.test_app import APP, figure, go

START, END = T0 - timedelta(hours=20), T0 - timedelta(hours=3)
LINK = {"from": f"{START:%Y-%m-%dT%H:%MZ}", "to": f"{END:%Y-%m-%dT%H:%MZ}"}


def _incidents(deployment: Deployment) -> pd.DataFrame:
    rows, _ = read_history(str(deployment.state_dir / "history.jsonl"))
    return incidents(history_frame(rows), T0)


def test_only_incidents_active_in_the_range_are_listed(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range ending 3 h before now keeps the episodes that began before its end (still
    firing since, so overlapping it) and leaves out the three that began later."""
    every = _incidents(deployment)
    began = every["start"] < pd.Timestamp(END)
    assert began.any() and (~began).sum() == 3  # the fixture's history has both kinds
    monkeypatch.setattr(sys, "argv", ["app.py", *deployment.argv()])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(LINK)
    at.run()
    go(at, "alerts")
    table = next(d.value for d in at.dataframe if "alertname" in d.value and "start" in d.value)
    assert sorted(table["start"]) == sorted(every.loc[began, "start"])
    rows = {y for t in figure(at, "incident_timeline")["data"] for y in t["y"]}
    assert "churn / feature-drift [ui_session_minutes]" in rows  # began 06:20, still firing
    assert "fraud v3 / p99-latency" not in rows  # began 09:10, after the range
    said = " ".join(unescaped(c.value) for c in at.caption)
    assert "3 incidents outside the chosen time range" in said
    assert {m.label: m.value for m in at.metric}["Incidents"] == str(int(began.sum()))


def test_an_episode_counts_when_it_overlaps_the_range() -> None:
    """Resolved before the range, begun after it: out; begun before and ended inside, or
    spanning the whole range: in."""
    t = pd.Timestamp(T0)
    inc = pd.DataFrame(
        {
            "alertname": ["before", "after", "into", "across"],
            "start": [t - pd.Timedelta(hours=9), t - pd.Timedelta(hours=1),
                      t - pd.Timedelta(hours=6), t - pd.Timedelta(hours=9)],
            "end": [t - pd.Timedelta(hours=6), t, t - pd.Timedelta(hours=4), t],
        }
    )  # fmt: skip
    lo, hi = to_epoch_ms(T0 - timedelta(hours=5)), to_epoch_ms(T0 - timedelta(hours=2))
    assert list(overlapping(inc, lo, hi)["alertname"]) == ["into", "across"]
