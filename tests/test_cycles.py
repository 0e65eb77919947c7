"""Points per seasonal cycle when the store leaves out empty buckets."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.cycles import points_per_cycle

DAY = 86_400
STEP = 300
EPOCH = 1_700_006_400  # a midnight, UTC


def _grid(days: int, step: int = STEP) -> np.ndarray:
    return EPOCH + step * np.arange(days * DAY // step)


def _clock_h(ts: np.ndarray) -> np.ndarray:
    return (ts % DAY) / 3600


def test_a_full_day_holds_its_steps():
    assert points_per_cycle(_grid(4), DAY, STEP) == 288


@pytest.mark.parametrize(("start", "end", "kept"), [(1, 6, 228), (22, 24, 264), (0, 12, 144)])
def test_the_same_hours_missing_every_day_shorten_the_day(start, end, kept):
    ts = _grid(5)
    h = _clock_h(ts)
    assert points_per_cycle(ts[(h < start) | (h >= end)], DAY, STEP) == kept


def test_a_gap_across_midnight_counts_too():
    ts = _grid(5)
    h = _clock_h(ts)
    assert points_per_cycle(ts[(h >= 2) & (h < 22)], DAY, STEP) == 240


@pytest.mark.parametrize("missing", [0.1, 0.3])
def test_scattered_missing_buckets_keep_the_steps_figure(missing):
    ts = _grid(6)
    keep = np.random.default_rng(0).random(len(ts)) > missing
    assert points_per_cycle(ts[keep], DAY, STEP) == 288


def test_irregular_sampling_keeps_the_steps_figure():
    rng = np.random.default_rng(1)
    ts = np.cumsum(rng.choice([60, 300, 300, 300, 900, 3600], size=3000)) + EPOCH
    assert points_per_cycle(ts, DAY, STEP) == 288


def test_one_outage_day_is_not_a_daily_gap():
    ts = _grid(6)
    outage = (ts >= EPOCH + 2 * DAY) & (ts < EPOCH + 3 * DAY)
    assert points_per_cycle(ts[~outage], DAY, STEP) == 288


def test_fewer_than_two_whole_cycles_keep_the_steps_figure():
    ts = EPOCH + 3600 + STEP * np.arange(int(1.8 * DAY // STEP))
    h = _clock_h(ts)
    assert points_per_cycle(ts[(h < 1) | (h >= 6)], DAY, STEP) == 288


def test_weekends_missing_from_a_weekly_cycle_of_hours():
    ts = EPOCH + 3600 * np.arange(24 * 7 * 3)
    weekday = ((ts - EPOCH) // DAY) % 7
    assert points_per_cycle(ts[weekday < 5], 7 * DAY, 3600) == 120


def test_business_hours_on_weekdays_count_the_open_hours():
    ts = _grid(14)
    h = _clock_h(ts)
    weekday = ((ts - EPOCH) // DAY) % 7
    assert points_per_cycle(ts[(h >= 8) & (h < 18) & (weekday < 5)], DAY, STEP) == 120
