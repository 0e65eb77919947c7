"""The Incidents table shows no end for an episode still pending or firing.

``sources.incidents`` ends an open episode at now so the timeline draws it up to the
present, and the table showed that time as its end: on the demo every firing incident read
as one that had ended a moment before (end 02:22:38, the page's now)."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.text import MISSING
from tests.conftest import T0
from tests.dashboard.test_app import go


def test_open_incidents_have_no_end_and_resolved_ones_keep_theirs(app: AppTest) -> None:
    go(app, "alerts")
    table = next(d for d in app.dataframe if "alertname" in d.value and "start" in d.value)
    view = table.value
    open_ = view["state"].isin(["pending", "firing"])
    assert open_.any(), view[["alertname", "state"]]
    assert view.loc[open_, "end"].isna().all(), view.loc[open_, ["alertname", "end"]]
    done = view.loc[~open_, "end"]
    assert done.notna().all() and (done < pd.Timestamp(T0)).all()  # ended before now
    assert table.proto.placeholder == MISSING  # an open episode's end reads "—"
