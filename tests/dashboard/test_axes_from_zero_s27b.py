"""Charts of quantities that cannot be negative start their y axis at 0.

Plotly pads the autoscaled range of a flat line by 1 either side: a model serving a steady
0.5 req/s got a QPS axis from -0.5 to 1.5, an idle one (0 req/s) one from -1, and a flat
p99 a latency axis below 0. ``rangemode="tozero"`` makes plotly start such an axis at 0 (the
browser applies it: the figure JSON is what can be checked). Charts whose values can be
negative (scores, a rule's backtest line, a learned band) keep plotly's own range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard import charts
from tests.dashboard.test_app import figure, go

STEP = 60_000


def _flat(n: int = 6, per_bucket: int = 30, errors: int = 0) -> pd.DataFrame:
    """Latency buckets of steady traffic: ``per_bucket`` requests a minute (0.5 req/s)."""
    ts = np.arange(n, dtype=np.int64) * STEP
    stats = {c: np.full(n, 12.0) for c in charts.LATENCY_LINES}
    return pd.DataFrame({"ts": ts, "count": per_bucket, "errors": errors, **stats})


def _rangemode(axis: object) -> object:
    return getattr(axis, "rangemode", None)


@pytest.mark.parametrize("per_bucket", [30, 0], ids=["steady 0.5 req/s", "idle"])
def test_the_qps_axis_of_flat_traffic_starts_at_0(per_bucket: int) -> None:
    fig = charts.qps_line(_flat(per_bucket=per_bucket), STEP, 0, 6 * STEP)
    assert list(fig.data[0].y) == pytest.approx([per_bucket / 60] * 6)  # the flat line
    assert _rangemode(fig.layout.yaxis) == "tozero"
    assert fig.layout.yaxis.title.text == "req/s"  # the unit is kept


def test_the_error_rate_axis_starts_at_0_too() -> None:
    fig = charts.qps_line(_flat(errors=3), STEP, 0, 6 * STEP)
    assert [t.name for t in fig.data] == ["qps", "error rate"]
    assert _rangemode(fig.layout.yaxis) == "tozero"
    assert _rangemode(fig.layout.yaxis2) == "tozero"
    assert fig.layout.yaxis2.tickformat == ".1%"


def test_latency_charts_start_at_0() -> None:
    lat = _flat()
    assert _rangemode(charts.latency_lines(lat).layout.yaxis) == "tozero"
    assert charts.latency_lines(lat).layout.yaxis.title.text == "ms"
    canary = pd.concat([lat.assign(version="v1"), lat.assign(version="v2")])
    fig = charts.canary_latency(canary, "v1", "v2", lat["ts"].to_numpy())
    assert _rangemode(fig.layout.yaxis) == "tozero"


@pytest.mark.parametrize("stat", ["p99", "qps"])
def test_the_fleet_charts_start_at_0(stat: str) -> None:
    lat = _flat().assign(qps=0.5)
    fig = charts.fleet_lines({"m1": lat, "m2": lat}, stat, "t")
    assert _rangemode(fig.layout.yaxis) == "tozero"


def test_charts_whose_values_can_be_negative_keep_plotlys_range() -> None:
    """A score (a regression model's, a logit) and a drift change go below 0 for real."""
    ts = np.arange(4, dtype=np.int64) * STEP
    score = pd.DataFrame({"ts": ts, "min": -3.0, "max": 1.0, "p50": -1.0, "p90": 0.5, "mean": -0.9})
    assert _rangemode(charts.score_band(score).layout.yaxis) is None
    shift = pd.DataFrame({"ts": ts, "delta": [-0.2, 0.1, -0.3, 0.0]})
    firings = pd.DataFrame(columns=["rule", "start", "end"])
    assert _rangemode(charts.backtest_overlay(shift, "delta", firings, "t").layout.yaxis) is None
    assert _rangemode(charts.fleet_lines({"m": shift}, "delta", "t").layout.yaxis) is None


def test_the_pages_qps_charts_start_at_0(app: AppTest) -> None:
    """As drawn by the pages: the Fleet page's QPS and p99 charts, the Model page's."""
    assert figure(app, "fleet_qps")["layout"]["yaxis"]["rangemode"] == "tozero"
    assert figure(app, "fleet_p99")["layout"]["yaxis"]["rangemode"] == "tozero"
    app.sidebar.selectbox(key="model").set_value("churn")
    go(app, "model")
    assert figure(app, "qps")["layout"]["yaxis"]["rangemode"] == "tozero"
    assert figure(app, "latency")["layout"]["yaxis"]["rangemode"] == "tozero"
