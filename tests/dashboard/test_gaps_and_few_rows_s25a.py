"""A day of churn traffic with a two-hour outage and one quiet quarter hour of about ten
requests: sparklines break at the outage, and the drift heatmap greys the quiet cells."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.cells import min_count_of
from modelhealth.dashboard.sparks import runs, spark_svg, svg_of, trend_values
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import emit
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.metrics import DRIFT_MIN_COUNT
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import REFS, RULES
from tests.dashboard.test_app import APP, figure, go

QUARTER = 15 * 60_000
T0_MS = to_epoch_ms(T0)
OUTAGE = (T0_MS - 10 * 3_600_000, T0_MS - 8 * 3_600_000)
QUIET = T0_MS - 14 * 3_600_000  # a heatmap bucket (15 min) holding about 10 requests


@pytest.fixture(scope="module")
def patchy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The app's argv over a store of churn alone: no requests in ``OUTAGE``, about ten
    in the quarter hour from ``QUIET``, 450 in every other one."""
    root = tmp_path_factory.mktemp("patchy")
    db = root / "churn.duckdb"
    refs = {p.stem: ModelReference.load(p) for p in REFS.glob("*.json")}
    store = DuckDBStore(db)
    monitor = Monitor(DuckDBSink(store), refs, clock=FakeClock(T0))
    churn, rng = fleet()["churn"], np.random.default_rng(7)
    for lo in range(T0_MS - 96 * QUARTER, T0_MS, QUARTER):
        if OUTAGE[0] <= lo < OUTAGE[1]:
            continue
        scale = 10 / (churn.rate_per_min * 15) if lo == QUIET else 1.0
        emit(monitor, churn, lo, lo + QUARTER, T0_MS, rng, rate_scale=scale)
    monitor.flush()
    store.close()
    state = root / "state"
    state.mkdir()
    yield ["--db", str(db), "--rules", str(RULES), "--state-dir", str(state),
           "--now", T0.isoformat()]  # fmt: skip


def _app(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _polylines(url: object) -> int:
    """How many unbroken line pieces a sparkline cell draws."""
    assert isinstance(url, str) and url.startswith("data:image/svg+xml"), url
    return svg_of(url).count("<polyline")


def test_the_drift_sparkline_breaks_at_the_outage(
    patchy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hourly drift values: the two outage hours are a gap, not 0 and not a joined line."""
    at = _app(patchy, monkeypatch)
    go(at, "model")
    table = at.dataframe[0].value.set_index("feature")
    assert len(table) == 5
    for feature, cell in table["drift trend"].items():
        assert _polylines(cell) == 2, feature  # before the outage, and after it


def test_the_fleet_p99_sparkline_breaks_at_the_outage(
    patchy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(patchy, monkeypatch)
    cell = at.dataframe[0].value.set_index("model").loc["churn", "p99 trend"]
    assert _polylines(cell) == 2


def test_trend_values_put_nan_where_a_bucket_has_no_value() -> None:
    series = pd.DataFrame({"ts": [0, 0, 120, 180], "feature": ["a", "b", "a", "a"],
                           "value": [0.1, 0.2, 0.3, 0.4]})  # fmt: skip
    got = trend_values(series, np.array([0, 60, 120, 180]))
    assert got["a"][0] == 0.1 and math.isnan(got["a"][1]) and got["a"][2:] == [0.3, 0.4]
    assert got["b"][0] == 0.2 and all(math.isnan(v) for v in got["b"][1:])  # not 0.0
    assert [len(r) for r in runs(got["a"])] == [1, 2]
    assert spark_svg([math.nan, math.nan]) is None
    assert "<circle" in svg_of(spark_svg(got["a"]) or "")  # a lone value is still drawn


def test_heatmap_greys_cells_with_too_few_rows(
    patchy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quiet quarter hour gets no drift colour: the "too few rows" layer covers it with
    the rules' reason as hover text, and it counts as no drifted bucket."""
    at = _app(patchy, monkeypatch)
    go(at, "drift")
    data = figure(at, "heatmap")["data"]
    x = [pd.Timestamp(t) for t in data[0]["x"]]
    col = x.index(pd.Timestamp(QUIET, unit="ms", tz="UTC"))
    cells = [row[col] for row in data[0]["z"]]
    assert all(v is None or math.isnan(v) for v in cells), cells  # no drift colour
    few = [t for t in data if t.get("name") == "too few rows"]
    assert len(few) == 1 and all(row[col] == 1 for row in few[0]["z"])
    assert all(f"fewer than min_count {DRIFT_MIN_COUNT}" in row[col] for row in few[0]["text"])
    ok = col - 1  # the quarter hour before holds 450 requests: a coloured cell
    assert all(row[ok] is not None and not math.isnan(row[ok]) for row in data[0]["z"])
    assert all(row[ok] is None or math.isnan(row[ok]) for row in few[0]["z"])
    assert any("too few rows" in c.value for c in at.caption)


def test_the_rules_min_count_is_what_the_heatmap_uses() -> None:
    assert min_count_of("psi") == DRIFT_MIN_COUNT
    assert min_count_of("chisquare_pvalue") == 0  # sized already: every cell judged
