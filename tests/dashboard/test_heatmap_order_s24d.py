"""The drift heatmap draws its rows top-down in the order the page lists features."""

from __future__ import annotations

import pandas as pd

from modelhealth.dashboard import charts


def _rows_top_down(fig: object) -> list[str]:
    """The heatmap's row labels as they appear on screen, top first (plotly puts the first
    category at the bottom of a y axis unless the axis is reversed)."""
    rows = [str(y) for y in fig.data[0].y]  # type: ignore[attr-defined]
    return rows if fig.layout.yaxis.autorange == "reversed" else rows[::-1]  # type: ignore[attr-defined]


def test_the_most_drifted_feature_is_the_top_row() -> None:
    series = pd.DataFrame({"ts": [0, 0, 0], "feature": ["calm", "worst", "mild"],
                           "value": [0.01, 4.2, 0.3], "drifted": [False, True, True]})  # fmt: skip
    order = ["worst", "mild", "calm"]  # heatmap_data's order: most drifted first
    fig = charts.drift_heatmap(series, "psi", order)
    assert _rows_top_down(fig) == order  # as the summary table below it lists them
