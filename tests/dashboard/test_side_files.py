"""A corrupt side file (reference profile, alert state, history) is a warning, not a crash.

One torn or hand-broken file must not take every page down with a traceback: the page
names the file and what is wrong with it and renders everything else without it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.sources import read_history, read_open_alerts
from tests.dashboard.conftest import Deployment, unescaped
from tests.dashboard.test_app import APP

PAGES = ("model", "drift", "canary", "alerts", "configs")


def _app(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, **paths: Path) -> AppTest:
    argv = deployment.argv()
    for flag, path in paths.items():
        argv[argv.index(f"--{flag.replace('_', '-')}") + 1] = str(path)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    return AppTest.from_file(APP, default_timeout=120).run()


def _warnings(at: AppTest) -> list[str]:
    return [unescaped(w.value) for w in at.warning]


def test_corrupt_reference_is_a_warning_on_every_page(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "fraud.ref.json").write_text('{"model": "fraud", "features": [\n')
    (tmp_path / "fraud.yaml").write_text(
        "model: fraud\nreference: fraud.ref.json\nrules:\n  - name: drift\n"
        "    metric: feature.drift.psi\n    features: all\n    window: 1h\n"
        "    detector: {type: threshold, above: 0.2}\n"
    )
    at = _app(deployment, monkeypatch, rules=tmp_path)
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 4  # every model still listed on the Fleet page
    at.sidebar.selectbox(key="model").set_value("fraud")
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        shown = " ".join(_warnings(at))
        assert "fraud.ref.json" in shown and "is not valid JSON" in shown, (page, shown)


def test_corrupt_alert_state_and_history_are_warnings(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    shutil.copytree(deployment.state_dir, state)
    (state / "alerts.json").write_text("{not json")
    good_lines = len((state / "history.jsonl").read_text().splitlines())
    with (state / "history.jsonl").open("a") as fh:
        fh.write('{"at": "2026-11-20T1\n')  # a torn last append
    at = _app(deployment, monkeypatch, state_dir=state)
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 4
    assert any("alerts.json is not valid JSON" in w for w in _warnings(at))
    at.switch_page("views/alerts.py").run()
    assert not at.exception, at.exception
    shown = " ".join(_warnings(at))
    assert "alerts.json is not valid JSON" in shown
    assert f"history.jsonl: skipped 1 unreadable line(s) (line {good_lines + 1})" in shown
    assert {m.label: m.value for m in at.metric}["Transitions"] == str(good_lines)


def test_readers_name_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "alerts.json").write_text('[{"rule_id": "x"}]')
    alerts, why = read_open_alerts(tmp_path / "alerts.json")
    assert alerts == [] and "is not an alert state file (KeyError" in why
    (tmp_path / "history.jsonl").write_text('{"a": 1}\n\n[1]\n{"b": 2}\n')
    rows, bad = read_history(tmp_path / "history.jsonl")
    assert rows == [{"a": 1}, {"b": 2}] and bad == [3]
