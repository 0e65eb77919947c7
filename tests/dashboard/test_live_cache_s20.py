"""A dashboard on Pinot shows answers at most ``LIVE_SLOT_S`` (30 s) old.

The Pinot handle was made without a time slot, so its cache token never changed and every
answer was served from Streamlit's cache for up to ``CACHE_TTL_S`` (5 min), whatever refresh
the user picked. The broker is the recording stand-in of ``test_namespace_s20``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import FakeClock
from modelhealth.dashboard import data
from modelhealth.dashboard.data import LIVE_SLOT_S, StoreHandle
from tests.dashboard.conftest import RULES
from tests.dashboard.test_namespace_s20 import APP, recording_broker  # noqa: F401 (fixture)

T_SLOT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a slot boundary (a multiple of 30 s)


def test_a_live_handle_changes_its_token_every_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(T_SLOT)
    monkeypatch.setattr(data, "CLOCK", clock)
    handle = StoreHandle.live(object())  # type: ignore[arg-type]
    first = handle.token()
    clock.advance(seconds=LIVE_SLOT_S - 1)
    assert handle.token() == first
    clock.advance(seconds=1)
    assert handle.token() != first


def test_the_pinot_dashboard_asks_the_broker_again_after_a_slot(
    recording_broker: tuple[str, list[str]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, seen = recording_broker
    clock = FakeClock(T_SLOT)
    monkeypatch.setattr(data, "CLOCK", clock)
    argv = ["--pinot", url, "--namespace", "live_", "--rules", str(RULES)]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv, "--state-dir", str(tmp_path)])
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    asked = len(seen)
    assert asked  # (the stand-in answers every query with one column: pages may error)
    app.run()  # the same slot: answered from the cache
    assert len(seen) == asked
    clock.advance(timedelta(seconds=LIVE_SLOT_S))
    app.run()  # the next slot: the broker is asked again
    assert len(seen) > asked
