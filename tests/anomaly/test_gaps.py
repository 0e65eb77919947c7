"""A model nobody calls at night: the store returns no bucket there, so each day's series
misses the same hours and the first morning point follows last night's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.anomaly.dataset import LabelledSeries
from modelhealth.anomaly.features import infer_period
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.train import after_gap, nightly_gap, train

DAY = 86_400
STEP = 300
EPOCH = 1_700_006_400  # a midnight, UTC


def _closed_at_night(seed: int, days: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, values, is 06:00) of a daily-seasonal series without 01:00-06:00."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY // STEP)
    ts = EPOCH + STEP * t
    level = rng.uniform(50, 500)
    phase = rng.uniform(0, 6)
    v = level * (1 + 0.3 * np.sin(2 * np.pi * t / 288 + phase)) + rng.normal(
        0, 0.03 * level, len(t)
    )
    hour = (ts % DAY) / 3600
    open_hours = (hour < 1) | (hour >= 6)
    return ts[open_hours], v[open_hours], np.isclose(hour[open_hours], 6.0)


@pytest.fixture(scope="module")
def gap_trained() -> LearnedModel:
    return train(generate_fleet(models=6, points=2000, seed=1), seed=0)


def test_the_period_is_the_points_a_day_really_holds():
    ts, _, _ = _closed_at_night(0)
    assert infer_period(ts) == 228
    assert infer_period(EPOCH + STEP * np.arange(5 * 288)) == 288


def test_a_nightly_gap_copy_drops_the_same_hours_every_day_and_keeps_the_windows():
    s = generate_fleet(models=1, points=2000, seed=4)[0]
    s = LabelledSeries(
        s.name, s.timestamps, s.values, ((int(s.timestamps[900]), int(s.timestamps[950])),)
    )
    g = nightly_gap(s, np.random.default_rng(0))
    assert g is not None and g.windows == s.windows
    missing = np.setdiff1d(s.timestamps, g.timestamps)
    assert 0 < len(missing) < len(s.timestamps) // 2
    slots = np.unique(missing % DAY)
    # the same clock slots every day: each missing slot is missing on every whole day
    assert len(missing) == pytest.approx(len(slots) * len(s.timestamps) / 288, rel=0.15)
    assert infer_period(g.timestamps) == 288 - len(slots)
    assert after_gap(g.timestamps).sum() >= 3 * 5
    short = LabelledSeries("short", s.timestamps[:900], s.values[:900])
    assert nightly_gap(short, np.random.default_rng(0)) is None


def test_mornings_after_a_nightly_gap_are_inside_the_band(gap_trained: LearnedModel):
    """Trained without gapped copies (``gapped_copies=False``) this model puts each 06:00
    point a median 1.6 band-widths outside its band; with them, about 0.1."""
    scores = []
    for seed in range(6):
        ts, v, morning = _closed_at_night(seed)
        scan = gap_trained.scan(ts, v)
        scores.append(scan.score[np.flatnonzero(morning)[3:]])
        assert not scan.alerts[len(ts) // 5 :].any()
    assert np.median(np.concatenate(scores)) < 0.5


def test_a_spike_after_a_nightly_gap_still_alerts(gap_trained: LearnedModel):
    """Spikes of 1.2x the level at 24 points of 8 such 12-day series are all caught (as on
    the same series without the gap); at 0.8x, 15 of 24 (24 without the gap: the discord
    score's two-week spread still holds the first days). With 30 days of history, 24 of 24
    at 0.5x and at 0.8x, gap or not."""
    for seed in (2, 5):
        ts, v, morning = _closed_at_night(seed)
        at = np.flatnonzero(morning)[9] + 30 + 7 * seed  # mid-morning of day 10
        v = v.copy()
        v[at] += 1.2 * np.median(v)
        assert gap_trained.scan(ts, v).alerts[at]


def test_a_business_hours_model_counts_its_open_hours(gap_trained: LearnedModel):
    """Open 08:00-18:00 on weekdays: 120 buckets a day, weekends absent. Counting the step's
    288 a day, a model trained on the 24-model fleet alerted 30 times on 20 such
    anomaly-free 4-week series (0 counting 120)."""
    t = np.arange(28 * 288)
    ts = EPOCH + STEP * t
    hour, weekday = (ts % DAY) / 3600, ((ts - EPOCH) // DAY) % 7
    open_hours = (hour >= 8) & (hour < 18) & (weekday < 5)
    assert infer_period(ts[open_hours]) == 120
    for seed in range(4):
        rng = np.random.default_rng(seed)
        level = rng.uniform(50, 500)
        v = level * (1 + 0.3 * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 6)))
        v = v + rng.normal(0, 0.03 * level, len(t))
        scan = gap_trained.scan(ts[open_hours], v[open_hours])
        assert not scan.alerts[open_hours.sum() // 5 :].any()


def test_the_model_records_its_gapped_copies(tmp_path):
    fleet = generate_fleet(models=1, points=1300, seed=2)
    with_copies = train(fleet, seed=0, rows_per_series=300)
    without = train(fleet, seed=0, rows_per_series=300, gapped_copies=False)
    assert with_copies.info["gapped_copies"] == len(fleet)
    assert without.info["gapped_copies"] == 0
    assert with_copies.info["forecast_rows"] > without.info["forecast_rows"]
    saved = LearnedModel.load(with_copies.save(tmp_path / "m"))
    assert saved.info["gapped_copies"] == len(fleet)


def test_the_cli_can_leave_the_gapped_copies_out(tmp_path):
    root = tmp_path / "ds"
    (root / "data" / "grp").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "labels" / "windows.json").write_text("{}")
    stamps = pd.date_range("2024-01-01", periods=1300, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        values = 50 + 10 * np.sin(np.arange(1300) / 288 * 2 * np.pi) + rng.normal(size=1300)
        lines = ["timestamp,value"] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
        (root / "data" / "grp" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    counts = {}
    for flag in ([], ["--no-gapped-copies"]):
        out = tmp_path / ("m" + "".join(flag))
        assert anomaly_main(["train", str(root), "--out", str(out), "--all-files", *flag]) == 0
        counts[bool(flag)] = LearnedModel.load(out).info["gapped_copies"]
    assert counts == {False: 2, True: 0}


def test_a_model_open_three_hours_a_day_has_a_three_point_day(gap_trained: LearnedModel):
    """Hourly buckets of a model called 09:00-12:00 only: 3 points a day, under the
    4-point floor of a sampling step's period, and still scanned with a daily cycle. On six
    anomaly-free 90-day series no alert; a spike of the level's size is caught on each."""
    t = np.arange(90 * 24)
    ts = EPOCH + 3600 * t
    hour = (ts % DAY) / 3600
    keep = (hour >= 9) & (hour < 12)
    assert infer_period(ts[keep]) == 3
    for seed in range(6):
        rng = np.random.default_rng(seed)
        level = rng.uniform(50, 500)
        v = (level * (1 + 0.1 * (hour - 10)) + rng.normal(0, 0.03 * level, len(t)))[keep]
        assert not gap_trained.scan(ts[keep], v).alerts[len(v) // 5 :].any()
        at = len(v) - 40
        v[at] += level
        assert gap_trained.scan(ts[keep], v).alerts[at]
