"""QA finding 6: a store that cannot be reached shows the "retries on the next refresh"
warning on every page, never a traceback, whichever query fails.

The Pinot broker is a real closed port (PinotStore's own StoreUnavailable, raised by the
first query), a stand-in broker whose servers fail every query but the model list (so the
error comes from inside a page, after the sidebar was drawn), and a DuckDB file that is not
a database (the dashboard's StoreUnavailableError, raised when the handle opens it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.app import PAGES
from modelhealth.dashboard.data import StoreUnavailableError
from modelhealth.errors import StoreUnavailable
from tests.conftest import T0, free_port
from tests.dashboard.conftest import ONE_MODEL, ROOT, RULES, stand_in_broker, unescaped

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")
RETRY = "This page retries on the next refresh."


def _app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *store: str) -> AppTest:
    argv = [*store, "--rules", str(RULES), "--state-dir", str(tmp_path / "state")]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv, "--now", T0.isoformat()])
    return AppTest.from_file(APP, default_timeout=120)


def _every_page(at: AppTest) -> Iterator[tuple[str, AppTest]]:
    at.run()
    for path, title, _ in PAGES:
        yield title, at.switch_page(path).run()


def _says_retry(at: AppTest, title: str, *words: str) -> None:
    assert not at.exception, (title, [e.value for e in at.exception])
    warnings = [unescaped(w.value) for w in at.warning]
    assert any(RETRY in w and all(x in w for x in words) for w in warnings), (title, warnings)


def test_dashboard_errors_are_the_stores_error() -> None:
    """One class to catch: the handle's error is the store's."""
    assert issubclass(StoreUnavailableError, StoreUnavailable)


def test_unreachable_pinot_broker_warns_on_every_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    at = _app(monkeypatch, tmp_path, "--pinot", broker)
    for title, page in _every_page(at):
        _says_retry(page, title, "pinot query failed", broker)


def test_unreadable_duckdb_file_warns_on_every_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "snapshot.duckdb"
    db.write_text("not a database\n")
    at = _app(monkeypatch, tmp_path, "--db", str(db))
    for title, page in _every_page(at):
        _says_retry(page, title, f"cannot open store {db}")


SEGMENTS_UNAVAILABLE = {"exceptions": [{"errorCode": 305, "message": "SegmentsUnavailableError"}]}


@pytest.fixture
def half_broker() -> Iterator[str]:
    """A Pinot broker whose servers are gone: the model list (an earlier answer) comes back,
    every other query gets the broker's error answer, as when segments are unavailable."""
    with stand_in_broker(
        lambda sql: ONE_MODEL if "DISTINCT model" in sql else SEGMENTS_UNAVAILABLE
    ) as url:
        yield url


def test_a_query_failing_inside_a_page_warns_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, half_broker: str
) -> None:
    at = _app(monkeypatch, tmp_path, "--pinot", half_broker)
    for title, page in _every_page(at):
        assert page.sidebar.selectbox(key="model").value == "fraud", title  # sidebar drawn
        if title in ("Alerts", "Configs"):  # the rules state, and no store before a backtest
            assert not page.exception, (title, [e.value for e in page.exception])
            continue
        _says_retry(page, title, "pinot query failed", half_broker)
