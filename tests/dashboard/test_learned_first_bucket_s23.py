"""The learned band leaves out a new model's partial first bucket, as the scheduler.

The band is meant to plot the scheduler's own verdicts. For ``count`` and ``qps`` the rules
engine leaves out a history bucket that starts before the store's first data of its instance
(``series.since_first_data``: a model live for one minute of a five-minute bucket reads as a
fifth of its traffic); the band plotted that bucket and scanned the series with it, so every
verdict after it was computed on a series the scheduler never judges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.learned import band_frame
from modelhealth.ingestion import Monitor
from modelhealth.rules.config import RuleSpec, load_rules_text
from modelhealth.rules.detectors import lookback_of
from modelhealth.rules.evaluator import judged_end_ms
from modelhealth.rules.frames import FrameSource
from modelhealth.rules.series import instances, plan_rule
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
M = timedelta(minutes=1)
END = T + 12 * 60 * M


@pytest.fixture(scope="module")
def store() -> DuckDBStore:
    """Model m: v1 live from 00:04, v2 from 06:02 (both inside a five-minute bucket), one
    request every 30 s, to 12:00."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T))
    for version, start in (("v1", 4 * M), ("v2", 6 * 60 * M + 2 * M)):
        ts = np.arange(to_epoch_ms(T + start), to_epoch_ms(END), 30_000)
        mon.log_batch(
            model="m",
            version=version,
            features={},
            score=np.full(len(ts), 0.5),
            latency_ms=np.full(len(ts), 20.0),
            ts_ms=ts,
        )
    mon.flush()
    return store


def _rule(model_dir: Path, metric: str, group_by: str = "    group_by: [version]\n") -> RuleSpec:
    loaded = load_rules_text(
        f"model: m\nrules:\n  - name: r\n    metric: {metric}\n    window: 5m\n{group_by}"
        f"    detector: {{type: learned, model: {model_dir}}}\n",
        "m.yaml",
    )
    assert loaded.ok, loaded.issues
    (rule,) = loaded.rules
    return rule


@pytest.mark.parametrize("metric", ["count", "qps"])
def test_the_band_leaves_out_each_versions_partial_first_bucket(
    store: DuckDBStore, learned_model_dir: Path, metric: str
) -> None:
    rule = _rule(learned_model_dir, metric)
    band = band_frame(rule, store, to_epoch_ms(T - 60 * M), to_epoch_ms(END))
    firsts = band.groupby("instance")["ts"].min().to_dict()
    assert firsts == {
        "version=v1": to_epoch_ms(T + 5 * M),
        "version=v2": to_epoch_ms(T + 6 * 60 * M + 5 * M),
    }, band.head(2)


@pytest.mark.parametrize("group_by", ["    group_by: [version]\n", ""])
def test_the_band_scans_the_series_the_scheduler_judges(
    store: DuckDBStore, learned_model_dir: Path, group_by: str
) -> None:
    """The band's values up to a tick are the series the scheduler hands the detector then
    (per version, and for the model as a whole: its first data is v1's)."""
    rule = _rule(learned_model_dir, "count", group_by)
    band = band_frame(rule, store, to_epoch_ms(T - 60 * M), to_epoch_ms(END))
    detector = rule.build_detector()
    end = judged_end_ms(detector, rule.window, to_epoch_ms(END))
    plan = plan_rule(rule, lookback_of(detector, rule.window), end, None)
    judged = instances(rule, plan, FrameSource(store), None)
    assert len(judged) == (2 if group_by else 1)
    for inst in judged:
        name = ", ".join(f"{k}={v}" for k, v in sorted(inst.labels.items()) if k != "model")
        plotted = band[band["instance"] == (name or "version=all")]
        assert plotted["ts"].tolist() == (inst.series.timestamps * 1000).tolist(), name
        assert np.allclose(plotted["value"], inst.series.values), name
