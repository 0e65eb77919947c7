"""The tables' sparkline columns are wide enough to show the whole line.

The table draws an image at the row's height and clips what does not fit its column. At
Streamlit's default column width only the left two thirds of a 120 x 28 sparkline showed:
a latency spike in the latest hours, at the line's right end, was cut off and the Fleet
page's p99 trend of the model that paged read flat."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from modelhealth.dashboard import sparks
from tests.dashboard.test_app import go


def _width(table: object, column: str) -> int:
    """The pixel width the page sets for ``column`` (0 when it sets none)."""
    config = json.loads(table.proto.columns)  # type: ignore[attr-defined]
    width = config[column].get("width", 0)
    assert isinstance(width, int), f"{column}: width {width!r}, expected pixels"
    return width


def drawn_width(line_width: float, line_height: float, row_px: int = 35) -> float:
    """The pixels a line drawn at the table row's height takes (the aspect ratio kept)."""
    return line_width * (row_px - 8) / line_height


def test_fleet_p99_trend_column_fits_the_whole_sparkline(app: AppTest) -> None:
    table = app.dataframe[0]
    assert "p99 trend" in table.value.columns
    assert _width(table, "p99 trend") >= drawn_width(sparks.WIDTH, sparks.HEIGHT)


def test_model_drift_trend_column_fits_the_whole_sparkline(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("churn")
    go(app, "model")
    table = app.dataframe[0]
    assert "drift trend" in table.value.columns
    assert _width(table, "drift trend") >= drawn_width(sparks.WIDTH, sparks.HEIGHT)
