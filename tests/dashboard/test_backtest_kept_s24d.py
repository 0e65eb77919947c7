"""A backtest result stays on the Configs page when the store publishes a new snapshot."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import ROOT, Deployment

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")


@pytest.fixture
def own_copy(deployment: Deployment, tmp_path: Path) -> Deployment:
    """The deployment on a copy of its store file, so the test may replace the snapshot."""
    db = tmp_path / "fleet.duckdb"
    shutil.copy(deployment.db, db)
    return Deployment(db, deployment.rules, deployment.state_dir)


def test_a_new_snapshot_keeps_the_backtest_shown(
    own_copy: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", *own_copy.argv()])
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="range").set_value("Last 6 hours").run()
    at.switch_page("views/configs.py").run()
    at.button(key="bt_run").click().run()
    assert not at.exception, at.exception
    assert "Firing spans" in [m.label for m in at.metric]
    stat = own_copy.db.stat()
    os.utime(own_copy.db, ns=(stat.st_atime_ns, stat.st_mtime_ns + 15 * 10**9))  # a snapshot
    at.run()  # the next rerun: auto-refresh, or picking the rule whose metric to plot
    assert not at.exception, at.exception
    assert "Firing spans" in [m.label for m in at.metric]  # the minute of replay is not lost
    assert any("Backtest of" in c.value and "replayed at" in c.value for c in at.caption)
