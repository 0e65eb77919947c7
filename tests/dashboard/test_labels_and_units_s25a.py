"""What the tables and histograms print: no "None" in numeric-only cells, no raw
``__other__`` bin label, and the unit of the Canary page's latency columns."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard import charts
from modelhealth.ingestion.schema import OTHER_CATEGORY
from tests.dashboard.test_app import figure, go

READABLE = "(other categories)"


def _shown_ticks(fig: dict) -> list[str]:
    """The x axis's tick labels as the browser draws them: the tick text when the figure
    sets one, else the category values themselves."""
    axis = fig["layout"].get("xaxis", {})
    return list(axis["ticktext"]) if "ticktext" in axis else list(fig["data"][0]["x"])


def test_categorical_min_and_max_cells_are_not_the_word_none(app: AppTest) -> None:
    """A categorical feature has no min/max/mean; its cells show the table's placeholder,
    an em dash, where Streamlit's default placeholder is the text "None"."""
    app.sidebar.selectbox(key="model").set_value("fraud")
    go(app, "model")
    table = app.dataframe[0]
    cats = table.value[table.value["kind"] == "categorical"]
    assert len(cats) and cats[["min", "max", "mean"]].isna().all().all()
    assert table.proto.placeholder == "—"


def test_the_rare_category_bin_reads_other_categories(app: AppTest) -> None:
    """merchant_category's bin of rare categories keeps its stored label as the bar's x
    value, and the axis (and so the hover label) shows it as "(other categories)"."""
    app.sidebar.selectbox(key="model").set_value("fraud")
    go(app, "model")
    app.selectbox(key="model_feature").set_value("merchant_category").run()
    fig = figure(app, "feature_hist")
    assert OTHER_CATEGORY in fig["data"][0]["x"]  # the stored label is unchanged
    shown = _shown_ticks(fig)
    assert READABLE in shown and OTHER_CATEGORY not in shown
    assert fig["layout"]["xaxis"]["tickvals"] == fig["data"][0]["x"]  # one text per bar


def test_every_histogram_names_the_other_bin_readably() -> None:
    """The Canary page's feature histogram (store bins by version) is drawn by the same
    chart as the Model page's: its ``__other__`` bin reads "(other categories)" too."""
    sides = {"v2": np.array([5.0, 1.0]), "v3": np.array([4.0, 2.0])}
    fig = charts.histogram_vs(["grocery", OTHER_CATEGORY], sides, "merchant_category by version")
    assert [list(bar.x) for bar in fig.data] == [["grocery", OTHER_CATEGORY]] * 2
    assert list(fig.layout.xaxis.ticktext) == ["grocery", READABLE]
    assert list(fig.layout.xaxis.tickvals) == ["grocery", OTHER_CATEGORY]


def test_histograms_without_the_other_bin_keep_their_plain_axis() -> None:
    fig = charts.histogram_vs(["<1", "[1,2)", ">=2"], {"current": np.ones(3)}, "t")
    assert fig.layout.xaxis.ticktext is None


def test_canary_latency_headers_carry_the_unit(app: AppTest) -> None:
    """The version table's p50/p90/p99 are milliseconds: the headers say so, while the data
    keeps its column names."""
    app.sidebar.selectbox(key="model").set_value("fraud")
    app.sidebar.selectbox(key="range").set_value("Last 6 hours")
    go(app, "canary")
    table = app.dataframe[0]
    assert {"p50", "p90", "p99"} <= set(table.value.columns)
    config = json.loads(table.proto.columns)
    headers = {name: config.get(name, {}).get("label", name) for name in table.value.columns}
    assert all(headers[s].endswith("(ms)") for s in ("p50", "p90", "p99")), headers
    assert not [h for h in headers.values() if h in ("p50", "p90", "p99")]
