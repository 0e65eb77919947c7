"""A followed deep link stays in the URL after changing page, so a reload keeps the view."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import T0
from tests.dashboard.conftest import ROOT, Deployment

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")
START, END = T0 - timedelta(hours=5), T0 - timedelta(hours=3)
LINK = {"model": "fraud", "from": f"{START:%Y-%m-%dT%H:%MZ}", "to": f"{END:%Y-%m-%dT%H:%MZ}"}


def _app(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, params: dict) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", *deployment.argv()])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_next_page_url_reopens_the_linked_model_and_range(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(deployment, monkeypatch, LINK)
    at.query_params.clear()  # the browser drops the query string when the page changes
    at.switch_page("views/drift.py").run()
    assert not at.exception, at.exception
    assert at.query_params == LINK  # the Drift page's URL, as a reload would send it
    reloaded = _app(deployment, monkeypatch, at.query_params)
    assert reloaded.sidebar.selectbox(key="model").value == "fraud"
    assert reloaded.sidebar.selectbox(key="range").value == "From link"


def test_a_picked_model_and_range_replace_the_link_in_the_url(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(deployment, monkeypatch, LINK)
    at.sidebar.selectbox(key="model").set_value("churn").run()
    at.sidebar.selectbox(key="range").set_value("Last 6 hours").run()
    assert not at.exception, at.exception
    assert at.query_params == {"model": "churn"}  # no stale range for a reload to reopen
