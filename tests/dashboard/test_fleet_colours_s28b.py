"""A model has one colour on both of the Fleet page's charts.

The p99 chart lists the slowest models first and the QPS chart the busiest, and each
coloured its lines by position: on the demo fraud was red on the p99 chart and blue on the
QPS chart beside it, where red was churn's line."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.dashboard.test_app import figure


def _colours(at: AppTest, key: str) -> dict[str, str]:
    return {t["name"]: t["line"]["color"] for t in figure(at, key)["data"]}


def test_each_model_has_the_same_colour_on_both_fleet_charts(app: AppTest) -> None:
    p99, qps = _colours(app, "fleet_p99"), _colours(app, "fleet_qps")
    assert set(p99) == set(qps) == {"churn", "fraud", "ranker", "search"}
    assert list(p99) != list(qps)  # the charts order their lines differently ...
    assert p99 == qps  # ... and colour each model alike
    assert len(set(p99.values())) == 4  # four models, four colours
