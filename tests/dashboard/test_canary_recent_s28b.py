"""The canary's version table also shows each version's latency over the recent window, and
flags a candidate whose recent p99 is well above the serving version's.

Over the whole range (24 h by default) the table hid a regression: fraud's candidate v3 ran
its slow tail for the last 3 hours (the seeded incident), at several times v2's p99, while
its 24-hour p99 stayed close to v2's. The recent window is the window of the model's
``latency.p99`` rule (fraud's ``p99-latency``: 30 min), else the last hour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.text import MISSING
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import Deployment, unescaped
from tests.dashboard.test_app import _app_at, go

RECENT_P99 = ["recent p50", "recent p90", "recent p99"]


@pytest.fixture(scope="module")
def store(deployment: Deployment) -> Iterator[DuckDBStore]:
    s = DuckDBStore(deployment.db, read_only=True)
    yield s
    s.close()


def _canary(at: AppTest) -> pd.DataFrame:
    at.sidebar.selectbox(key="model").set_value("fraud")
    go(at, "canary")
    return at.dataframe[0].value.set_index("version")


def _recent(store: DuckDBStore, minutes: int, end: int | None = None) -> pd.DataFrame:
    hi = end if end is not None else to_epoch_ms(T0)
    scope = Scope("fraud", hi - minutes * 60_000, hi)
    return store.latency(scope, by_version=True).set_index("version")


def test_the_table_shows_the_rules_recent_window_and_flags_the_candidate(
    app: AppTest,
    store: DuckDBStore,
) -> None:
    table = _canary(app)
    recent = _recent(store, 30)  # fraud's p99-latency rule: window 30m
    for v in ("v2", "v3"):
        assert table.loc[v, "recent count"] == recent.loc[v, "count"]
        assert table.loc[v, "recent p99"] == pytest.approx(recent.loc[v, "p99"])
    v3, v2 = table.loc["v3"], table.loc["v2"]
    assert v3["recent p99"] > 3 * v2["recent p99"]  # the regression, as the rule sees it
    assert v3["recent p99"] > 2 * v3["p99"]  # what the whole-range figure diluted
    warned = [unescaped(w.value) for w in app.warning]
    assert len(warned) == 1, warned
    ratio = v3["recent p99"] / v2["recent p99"]
    assert warned[0].startswith(
        f"v3's p99 latency over the last 30 min is {v3['recent p99']:.1f} ms, "
        f"{ratio:.1f}× v2's {v2['recent p99']:.1f} ms"
    ), warned
    said = [unescaped(c.value) for c in app.caption]
    assert any("Last 30 min: 11:30 to 12:00 UTC" in c and "rule p99-latency" in c for c in said)


def test_every_header_carries_its_span_and_unit(app: AppTest) -> None:
    _canary(app)
    table = app.dataframe[0]
    config = json.loads(table.proto.columns)
    headers = {c: config.get(c, {}).get("label", c) for c in table.value.columns}
    recent_first = ["version", "recent count", *RECENT_P99]  # on screen without scrolling
    assert list(table.value.columns)[:5] == recent_first
    for stat in ("p50", "p90", "p99"):
        assert headers[stat] == f"{stat}, 24 h (ms)"
        assert headers[f"recent {stat}"] == f"{stat}, last 30 min (ms)"
    assert headers["count"] == "requests, 24 h"
    assert headers["recent count"] == "requests, last 30 min"


def test_a_recent_window_without_rows_shows_the_placeholder(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    store: DuckDBStore,
) -> None:
    """Two hours after the store's data ends: the 24-hour range still holds both versions,
    the last 30 minutes hold nothing. No crash, no flag, 0 requests and no percentiles
    (the table's placeholder, an em dash)."""
    at = _app_at(deployment, monkeypatch, T0 + timedelta(hours=2))
    table = _canary(at)
    assert set(table.index) == {"v2", "v3"}
    assert (table["recent count"] == 0).all()
    assert table[RECENT_P99].isna().all().all()
    assert at.dataframe[0].proto.placeholder == MISSING
    assert not at.warning


def test_without_a_p99_rule_the_recent_window_is_the_last_hour(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: DuckDBStore,
) -> None:
    (tmp_path / "fraud.yaml").write_text(
        "model: fraud\nrules:\n  - name: p50\n    metric: latency.p50\n    window: 10m\n"
        "    detector: {type: threshold, above: 100}\n"
    )
    at = _app_at(deployment, monkeypatch, T0, "--rules", str(tmp_path))
    table = _canary(at)
    hour = _recent(store, 60)
    assert table.loc["v3", "recent p99"] == pytest.approx(hour.loc["v3", "p99"])
    said = [unescaped(c.value) for c in at.caption]
    assert any("Last 1 h: 11:00 to 12:00 UTC" in c and "default" in c for c in said), said
