"""The dashboard's pure parts: charts, time windows, health status, incidents, store handle."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard import charts
from modelhealth.dashboard.context import TimeWindow, parse_settings, pick_step
from modelhealth.dashboard.data import Queries, StoreHandle, StoreUnavailableError, clear_caches
from modelhealth.dashboard.launch import dashboard_main, streamlit_command
from modelhealth.dashboard.sources import AMBER, GREEN, RED, history_frame, incidents, model_status
from modelhealth.drift.compare import Baseline, drift_series, drift_table
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import Alert, AlertState

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_latency_lines_plot_every_statistic() -> None:
    df = pd.DataFrame({"ts": [0, 60_000], "mean": [1.0, 2.0], "p50": [1, 2], "p75": [2, 3],
                       "p90": [3, 4], "p99": [9.0, 12.0]})  # fmt: skip
    fig = charts.latency_lines(df)
    assert [t.name for t in fig.data] == ["mean", "p50", "p75", "p90", "p99"]
    assert list(fig.data[4].y) == [9.0, 12.0]
    assert str(fig.data[0].x[1]) == "1970-01-01 00:01:00+00:00"


def test_histogram_vs_normalises_each_side() -> None:
    fig = charts.histogram_vs(
        ["a", "b"], {"cur": np.array([1, 3]), "base": np.array([50, 50])}, "t"
    )
    assert list(fig.data[0].y) == [0.25, 0.75] and list(fig.data[1].y) == [0.5, 0.5]


def test_drift_heatmap_keeps_feature_order_and_gaps() -> None:
    s = pd.DataFrame({"ts": [0, 0, 60_000], "feature": ["a", "b", "a"], "value": [0.1, 0.2, 0.9],
                      "drifted": [False, False, True]})  # fmt: skip
    heat = charts.drift_heatmap(s, "psi", ["b", "a"]).data[0]
    assert list(heat.y) == ["b", "a"]
    assert heat.z[1][1] == 0.9 and np.isnan(heat.z[0][1])


def test_backtest_overlay_shades_each_firing_span() -> None:
    metric = pd.DataFrame({"ts": [0, 60_000], "p99": [1.0, 2.0]})
    t = pd.Timestamp("1970-01-01", tz="UTC")
    firings = pd.DataFrame({"rule": ["x", "x"], "start": [t, t], "end": [t, t]})
    fig = charts.backtest_overlay(metric, "p99", firings, "t")
    assert len(fig.layout.shapes) == 2
    assert [d.name for d in fig.data] == ["p99", "fires: x"]


def test_pick_step_and_window_alignment() -> None:
    assert pick_step(3_600_000) == 60_000
    assert pick_step(86_400_000) == 300_000
    assert pick_step(30 * 86_400_000) == 180 * 60_000
    w = TimeWindow.ending(NOW + timedelta(seconds=10), timedelta(hours=24))
    assert w.end_ms == to_epoch_ms(NOW) + 300_000 and w.end_ms - w.start_ms == 86_400_000
    with pytest.raises(ValueError, match="ends"):
        TimeWindow.between(NOW, NOW - timedelta(hours=1))


def _alert(model: str, state: AlertState, severity: str) -> tuple[str, Alert]:
    labels = {"alertname": "r", "model": model, "severity": severity}
    return "rid", Alert(labels=labels, state=state, active_at=NOW)


def test_model_status_colours() -> None:
    fresh, stale = to_epoch_ms(NOW - timedelta(minutes=1)), to_epoch_ms(NOW - timedelta(hours=1))
    win = timedelta(minutes=15)
    assert model_status("m", [], fresh, NOW, win) == (GREEN, "ok")
    assert (
        model_status("m", [_alert("m", AlertState.PENDING, "critical")], fresh, NOW, win)[0]
        == AMBER
    )
    assert (
        model_status("m", [_alert("m", AlertState.FIRING, "warning")], fresh, NOW, win)[0] == AMBER
    )
    assert (
        model_status("m", [_alert("m", AlertState.FIRING, "critical")], fresh, NOW, win)[0] == RED
    )
    assert (
        model_status("m", [_alert("x", AlertState.FIRING, "critical")], fresh, NOW, win)[0] == GREEN
    )
    assert model_status("m", [], stale, NOW, win) == (RED, "stale: no data for 1.0 h")
    assert model_status("m", [], None, NOW, win) == (RED, "no data")


def test_incidents_join_transitions_into_episodes() -> None:
    a = NOW - timedelta(hours=2)
    labels = {"alertname": "x", "model": "m", "severity": "warning"}
    base = {"rule_id": "r1", "fingerprint": "f1", "labels": labels, "annotations": {},
            "value": 1.0, "active_at": a.isoformat()}  # fmt: skip
    rows = [
        {**base, "at": a.isoformat(), "state": "pending"},
        {**base, "at": (a + timedelta(minutes=5)).isoformat(), "state": "firing",
         "fired_at": (a + timedelta(minutes=5)).isoformat()},
        {**base, "at": (a + timedelta(hours=1)).isoformat(), "state": "inactive",
         "fired_at": (a + timedelta(minutes=5)).isoformat(),
         "resolved_at": (a + timedelta(hours=1)).isoformat()},
        {**base, "fingerprint": "f2", "at": a.isoformat(), "state": "firing"},
    ]  # fmt: skip
    inc = incidents(history_frame(rows), NOW)
    assert len(inc) == 2
    done = inc[inc["fingerprint"] == "f1"].iloc[0]
    assert done["state"] == "resolved" and done["end"] == pd.Timestamp(a + timedelta(hours=1))
    assert done["fired_at"] == pd.Timestamp(a + timedelta(minutes=5))
    open_ = inc[inc["fingerprint"] == "f2"].iloc[0]
    assert open_["end"] == pd.Timestamp(NOW)  # still open: drawn up to now


def test_an_episode_that_cleared_while_pending_is_not_an_incident() -> None:
    """It never fired and nobody was told; the Alerts page counted it as a resolved incident
    and drew it as a critical bar."""
    a = NOW - timedelta(hours=2)
    base = {"rule_id": "r1", "fingerprint": "f1", "annotations": {}, "value": 1.0,
            "labels": {"alertname": "x", "model": "m", "severity": "critical"},
            "active_at": a.isoformat()}  # fmt: skip
    rows = [
        {**base, "at": a.isoformat(), "state": "pending"},
        {**base, "at": (a + timedelta(minutes=3)).isoformat(), "state": "inactive",
         "resolved_at": (a + timedelta(minutes=3)).isoformat()},
    ]  # fmt: skip
    frame = history_frame(rows)
    assert frame["state"].tolist() == ["pending", "cleared"]
    assert incidents(frame, NOW).empty


def _batch(model: str) -> EventBatch:
    batch = EventBatch()
    batch.inferences = pd.DataFrame(
        {"ts": [1_000], "model": [model], "version": ["v1"], "host": ["h"], "request_id": ["r"],
         "score": [0.5], "latency_ms": [3.0], "is_error": [0]}
    )  # fmt: skip
    return batch


def _write(path: Path, model: str) -> None:
    s = DuckDBStore(path)
    s.append(_batch(model))
    s.close()


def test_store_handle_follows_an_atomically_replaced_snapshot(tmp_path: Path) -> None:
    snap = tmp_path / "snap.duckdb"
    handle = StoreHandle.duckdb(snap)
    with pytest.raises(StoreUnavailableError, match="does not exist yet"):
        handle.token()
    _write(snap, "alpha")
    clear_caches()
    q1 = Queries(handle)
    assert q1.models() == ["alpha"]
    assert Queries(handle).token == q1.token and handle.reopens == 1  # unchanged: no reopen
    _write(tmp_path / "next.duckdb", "beta")
    os.replace(tmp_path / "next.duckdb", snap)  # how the demo publishes a snapshot
    q2 = Queries(handle)
    assert q2.token != q1.token and handle.reopens == 2
    assert q2.models() == ["beta"]  # the cache is keyed on the snapshot: no stale answer
    with pytest.raises(Exception, match=r"read-only|read only"):
        handle.run(lambda store: store.append(_batch("gamma")))  # opened read_only
    handle.close()


def test_settings_and_launch_validate_arguments(tmp_path: Path) -> None:
    s = parse_settings(["--db", "x.duckdb", "--state-dir", str(tmp_path)])
    assert s.alerts_json == tmp_path / "alerts.json"
    assert s.alerts_db == tmp_path / "alerts.db"
    with pytest.raises(SystemExit):
        parse_settings(["--now", "2026-11-20T12:00"])  # no timezone
    with pytest.raises(SystemExit):
        dashboard_main(["--port", "8501"])  # --db missing
    cmd = streamlit_command(["--db", "x"], 9999, "127.0.0.1")
    assert cmd[cmd.index("--server.port") + 1] == "9999"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[-3:] == ["--", "--db", "x"]


def test_cli_help_lists_the_app_options() -> None:
    out = subprocess.run([sys.executable, "-m", "modelhealth.cli", "dashboard", "--help"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--state-dir" in out.stdout and "--port" in out.stdout


def test_profile_drift_from_one_scan_equals_the_two_query_path(seeded_store, fleet_refs) -> None:
    """The Model page's single bucketed scan gives the same table and series as two queries."""
    model = sorted(fleet_refs)[0]
    ref = fleet_refs[model]
    hi = to_epoch_ms(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    scope = Scope(model, hi - 6 * 3_600_000, hi)
    step = 1_800_000
    clear_caches()
    table, series = Queries(StoreHandle.of(seeded_store)).profile_drift(
        scope, ref, "k", "psi", step
    )
    want_table = drift_table(seeded_store, scope, Baseline.profile(ref), ["psi"])
    want_series = drift_series(seeded_store, scope, Baseline.profile(ref), "psi", step)
    assert len(table) == len(ref.features) and table["value"].notna().any()
    pd.testing.assert_frame_equal(table, want_table)
    pd.testing.assert_frame_equal(series, want_series)
    assert series["ts"].nunique() == 12
