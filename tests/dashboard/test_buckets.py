"""Time buckets the store leaves out or has not filled yet, and bins a reference lacks.

A QA pass found every rate chart diving toward 0 at its right edge (the newest bucket divided
by its full length while only part of it had happened), outages bridged by straight lines,
drift spiking on the bucket still filling, and histogram bins the reference does not know
silently dropped. These are the pure functions the pages now use, on hand-made frames.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard import charts
from modelhealth.dashboard.context import TimeWindow
from modelhealth.dashboard.views.model import bin_mismatch_warning, reference_sides
from modelhealth.ingestion.reference import FeatureReference

NOW = datetime(2026, 11, 20, 18, 6, 30, tzinfo=UTC)  # 90 s into the 18:05 bucket
MIN = 60_000


def _ms(hh: int, mm: int) -> int:
    return to_epoch_ms(datetime(2026, 11, 20, hh, mm, tzinfo=UTC))


def test_window_ends_on_a_bucket_but_knows_how_much_has_happened() -> None:
    w = TimeWindow.ending(NOW, timedelta(hours=24))
    assert w.step_ms == 5 * MIN and w.end_ms == _ms(18, 10)  # rounded up: aligned buckets
    assert w.data_end_ms == to_epoch_ms(NOW)
    assert w.elapsed_s == 86_400 - 210  # 18:10 - 24 h .. 18:06:30, not the full 24 h
    assert w.buckets()[-1] == _ms(18, 5) and len(w.buckets()) == 288
    assert w.complete_buckets()[-1] == _ms(18, 0)  # 18:05 is still filling
    assert w == TimeWindow.ending(NOW + timedelta(seconds=60), timedelta(hours=24))  # same view
    past = TimeWindow.between(NOW - timedelta(days=2), NOW - timedelta(days=1), now=NOW)
    assert past.data_end_ms == past.end_ms  # all in the past: every bucket complete
    assert past.elapsed_s == past.seconds and len(past.complete_buckets()) == len(past.buckets())


def test_qps_divides_each_bucket_by_the_time_it_covers() -> None:
    """10 req/s steadily: the 18:05 bucket holds 90 s of requests at 18:06:30, not 300 s."""
    df = pd.DataFrame({"ts": [_ms(18, 0), _ms(18, 5)], "count": [3000, 900], "errors": [0, 0]})
    fig = charts.qps_line(df, 5 * MIN, _ms(17, 0), to_epoch_ms(NOW))
    assert list(fig.data[0].y) == pytest.approx([10.0, 10.0])  # was [10, 3]: a false dive


def test_per_second_cuts_a_bucket_at_the_window_start() -> None:
    """An unaligned trend step (7 days / 48 = 3.5 h) starts its first bucket before the window."""
    step = 210 * MIN
    start = _ms(12, 0)
    first = start // step * step
    df = pd.DataFrame({"ts": [first], "count": [(first + step - start) // 1000]})
    assert charts.per_second(df, step, start, start + 10 * step).tolist() == [1.0]
    assert charts.covered_seconds(np.array([start + 10 * step]), step, start, start).tolist() == [0]
    assert np.isnan(charts.per_second(df, step, first + step, first + 2 * step).iloc[0])


def test_missing_buckets_read_zero_requests_and_break_the_latency_lines() -> None:
    """No row for 18:01-18:02 (an outage): QPS drops to 0 there, latency has a gap."""
    ts = [_ms(18, 0), _ms(18, 3)]
    stats = {"mean": [2.0, 3.0], "p50": [1.0, 2.0], "p75": [2.0, 3.0], "p90": [3.0, 4.0]}
    df = pd.DataFrame({"ts": ts, "count": [60, 120], "errors": [6, 0], **stats, "p99": [5.0, 9.0]})
    grid = np.arange(_ms(18, 0), _ms(18, 4), MIN)
    filled = charts.fill_buckets(df, grid)
    assert filled["ts"].tolist() == grid.tolist()
    assert filled["count"].tolist() == [60, 0, 0, 120] and filled["count"].dtype == np.int64
    assert filled["errors"].tolist() == [6, 0, 0, 0]
    assert np.isnan(filled["p99"].iloc[1]) and np.isnan(filled["p99"].iloc[2])
    qps = charts.qps_line(filled, MIN, _ms(18, 0), _ms(18, 4))
    assert list(qps.data[0].y) == [1.0, 0.0, 0.0, 2.0]
    assert np.isnan(qps.data[1].y[1])  # error rate: no requests, no rate (not 0 %)
    p99 = charts.latency_lines(filled).data[4]
    assert np.isnan(p99.y[1]) and not p99.connectgaps  # a gap, not a line through it
    assert charts.fill_buckets(df.iloc[:0], grid).empty  # no data at all: "no data" note


def test_drift_leaves_out_incomplete_buckets() -> None:
    step = 15 * MIN
    series = pd.DataFrame({
        "ts": [_ms(17, 45), _ms(17, 45), _ms(18, 0), _ms(18, 0), _ms(17, 30)],
        "feature": ["a", "b", "a", "b", "a"],
        "value": [0.01, 0.02, 0.9, 0.8, 0.03],  # 18:00 spikes on 6 minutes of requests
        "drifted": [False, False, True, True, False],
    })  # fmt: skip
    kept = charts.complete_buckets(series, step, _ms(17, 40), to_epoch_ms(NOW))
    assert kept["ts"].unique().tolist() == [_ms(17, 45)]  # 17:30 is cut by the window start
    assert not kept["drifted"].any()
    assert kept.groupby("feature")["value"].apply(list).to_dict() == {"a": [0.01], "b": [0.02]}


def test_drift_heatmap_shows_an_empty_bucket_as_a_gap() -> None:
    s = pd.DataFrame({"ts": [0, 2 * MIN], "feature": ["a", "a"], "value": [0.1, 0.3],
                      "drifted": [False, False]})  # fmt: skip
    heat = charts.drift_heatmap(s, "psi", ["a"], np.array([0, MIN, 2 * MIN])).data[0]
    assert len(heat.x) == 3 and np.isnan(heat.z[0][1]) and heat.z[0][2] == 0.3


def test_score_bins_are_labelled_with_their_ranges() -> None:
    assert charts.score_labels([0.0, 0.5, 1.0]) == ["<0", "[0,0.5)", "[0.5,1)", ">=1"]


def _numeric(edges: tuple[float, ...], counts: tuple[float, ...]) -> FeatureReference:
    return FeatureReference("x", "numeric", edges=edges, counts=counts)


def test_histogram_keeps_store_bins_the_reference_does_not_know() -> None:
    """A reference without the overflow bin above the training max: 3 bins, the store has 4."""
    fref = _numeric((0.0, 10.0), (1.0, 8.0, 1.0))
    hist = pd.DataFrame({"bin": [1, 2, 3, 3], "label": ["[0,10)", "=10", ">10", ">10"],
                         "count": [5, 2, 2, 1]})  # fmt: skip
    shown = reference_sides(hist, fref)
    assert shown.labels == ["<0", "[0,10)", ">=10", ">10"]  # the extra bin: the store's label
    assert shown.sides["current"].tolist() == [0.0, 5.0, 2.0, 3.0]  # nothing dropped
    assert shown.sides["baseline (reference)"].tolist() == [1.0, 8.0, 1.0, 0.0]
    assert shown.unknown_bins == [3]
    why = bin_mismatch_warning("x", fref, shown.unknown_bins, "refs/churn.json")
    assert "refs/churn.json" in why and "bin(s) 3" in why and "3 bins" in why
    unlabelled = reference_sides(hist.assign(label=None), fref)
    assert unlabelled.labels[-1] == "bin 3"
    same = reference_sides(hist[hist["bin"] < 3], fref)
    assert same.unknown_bins == [] and len(same.labels) == 3


def test_the_heatmaps_worst_bucket_of_a_p_value_is_its_smallest() -> None:
    from modelhealth.dashboard.views.drift import _worst

    series = pd.DataFrame({"feature": ["a", "a", "b"], "value": [0.5, 0.001, 0.2]})
    assert _worst(series, "a", "chisquare_pvalue") == 0.001  # small p-value = drift
    assert _worst(series, "a", "psi") == 0.5


def test_canary_latency_breaks_where_a_version_served_nothing() -> None:
    """The candidate out of rotation 18:01-18:03: its lines break there, the serving one's not."""
    grid = np.arange(_ms(18, 0), _ms(18, 4), MIN)
    rows = [("v1", t, 10.0 + i) for i, t in enumerate(grid)]
    rows += [("v2", grid[0], 50.0), ("v2", grid[3], 60.0)]
    df = pd.DataFrame(rows, columns=["version", "ts", "p50"]).assign(
        count=1, p99=lambda d: d["p50"] * 2
    )
    fig = charts.canary_latency(df, "v1", "v2", grid)
    lines = {t.name: t for t in fig.data}
    assert list(lines["v1 p50"].y) == [10.0, 11.0, 12.0, 13.0]
    candidate = lines["v2 p99"].y
    assert candidate[0] == 100.0 and candidate[3] == 120.0
    assert np.isnan(candidate[1]) and np.isnan(candidate[2]) and not lines["v2 p99"].connectgaps
