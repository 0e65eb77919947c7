"""QA finding 7: the Configs page's backtest ticks on the rules' bucket grid, as the
scheduler does, so it finds the demo's learned alert that the learned panel plots.

The old replay ticked every 8 minutes from the range's start over a day (at most 200 ticks),
so most ticks fell between 5-minute bucket boundaries and fraud v3's one-bucket learned
alert was never judged: the page said "3 firing spans" beside a panel showing the alert.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.backtest import MAX_TICKS, replay, tick_plan
from modelhealth.dashboard.context import RANGES, TimeWindow
from modelhealth.dashboard.learned import band_frame
from modelhealth.demo.learned import RULE_NAME, with_learned_rules
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec, load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import REFS, RULES, Deployment

FIVE_MIN = 300_000
DAY = TimeWindow.ending(T0 + timedelta(minutes=2, seconds=13), RANGES["Last 24 hours"])


@pytest.fixture(scope="module")
def demo_rules(tmp_path_factory: pytest.TempPathFactory) -> list[RuleSpec]:
    """fraud's rules exactly as ``modelhealth demo`` writes them: the example configs plus
    ``fraud.learned.yaml`` with the model the demo trains (about 30 s)."""
    folder = with_learned_rules(RULES, tmp_path_factory.mktemp("demo"), ["fraud"], lambda _: None)
    loaded = load_rules([folder])
    assert loaded.ok, loaded.issues
    return [r for r in loaded.rules if r.model == "fraud"]


def _learned(rules: list[RuleSpec]) -> RuleSpec:
    return next(r for r in rules if r.name == RULE_NAME)


def _ms(times: list[Any]) -> list[int]:
    return [to_epoch_ms(t) for t in times]


def test_a_day_ticks_at_every_bucket_boundary_of_the_demo_rules(
    demo_rules: list[RuleSpec],
) -> None:
    """The Configs default (the last 24 hours, ending at an odd "now"): a tick at the end
    of every 5-minute bucket, as ``rules run`` ticks on its slots (the old replay ticked
    every 8 minutes from the range's start)."""
    plan = tick_plan(DAY.start_ms, DAY.data_end_ms, demo_rules)
    ticks = _ms(plan.times)
    assert plan.step_ms == plan.bucket_ms == FIVE_MIN and plan.skipped == 0
    assert all(t % FIVE_MIN == 0 for t in ticks)
    assert ticks == list(range(DAY.start_ms + FIVE_MIN, DAY.data_end_ms + 1, FIVE_MIN))
    assert len(ticks) == 287  # every bucket that ends inside the range: 12:10 .. 12:00
    assert plan.note() == "a tick at every 5m bucket boundary, as the scheduler judges them"


def test_a_long_range_widens_the_step_in_whole_buckets_and_says_so(
    demo_rules: list[RuleSpec],
) -> None:
    week = TimeWindow.ending(T0 + timedelta(minutes=2), RANGES["Last 7 days"])
    plan = tick_plan(week.start_ms, week.data_end_ms, demo_rules)
    ticks = _ms(plan.times)
    assert len(ticks) <= MAX_TICKS
    assert plan.step_ms % FIVE_MIN == 0 and all(t % plan.step_ms == 0 for t in ticks)
    assert plan.skipped == plan.step_ms // FIVE_MIN - 1 > 0
    note = plan.note()
    assert f"{plan.skipped} of every {plan.step_ms // FIVE_MIN} buckets are not judged" in note
    assert "pick a range of at most 25h" in note  # MAX_TICKS buckets of 5 minutes


def test_grid_follows_the_shortest_window_and_for(demo_rules: list[RuleSpec]) -> None:
    """Without the learned rule the shortest window is 30m and the shortest for: 5m: still
    a 5-minute step, a divisor of 30m so every 30m boundary is a tick."""
    plain = [r for r in demo_rules if r.name != RULE_NAME]
    assert min(r.window for r in plain) == timedelta(minutes=30)
    assert tick_plan(DAY.start_ms, DAY.data_end_ms, plain).bucket_ms == FIVE_MIN


def test_backtest_finds_every_alert_the_learned_panel_shows(
    deployment: Deployment, demo_rules: list[RuleSpec]
) -> None:
    """The demo's learned rule over the Configs default range: each alert of the panel
    (the model's verdict on a 5-minute bucket) is a backtest firing at that bucket's end,
    and the backtest fires nowhere else."""
    rule = _learned(demo_rules)
    refs = {"fraud": ModelReference.load(REFS / "fraud.json")}
    store = DuckDBStore(deployment.db, read_only=True)
    try:
        band = band_frame(rule, store, DAY.start_ms, DAY.data_end_ms)
        spans = replay([rule], store, refs, DAY.start_ms, DAY.data_end_ms)
    finally:
        store.close()
    panel = band[band["alert"].astype(bool)]
    assert len(panel) >= 1, "the demo's learned rule should alert on fraud v3's regression"
    expected = sorted(
        (inst, pd.Timestamp(ts + FIVE_MIN, unit="ms", tz="UTC"))
        for inst, ts in zip(panel["instance"], panel["ts"], strict=True)
        if ts + FIVE_MIN <= DAY.data_end_ms  # a bucket still filling is judged by no tick
    )
    got = sorted(zip(spans["labels"], spans["start"], strict=True))
    assert got == expected


def test_the_scheduler_fires_on_the_same_instance_within_the_bucket(
    deployment: Deployment, demo_rules: list[RuleSpec]
) -> None:
    """``rules run`` ticking every minute around the backtest's firing: the same instance
    fires once, within the bucket the backtest's tick closes (a minute tick sees the
    window ending then, so it may fire up to 4 minutes earlier), and nothing else fires."""
    rule = _learned(demo_rules)
    store = DuckDBStore(deployment.db, read_only=True)
    try:
        spans = replay([rule], store, {}, DAY.start_ms, DAY.data_end_ms)
        assert len(spans) >= 1
        for labels, start in zip(spans["labels"], spans["start"], strict=True):
            tick = start.to_pydatetime()
            ev = Evaluator([rule], store)
            fired: set[tuple[str, Any]] = set()
            for minute in range(-15, 16):
                report = ev.tick(tick + timedelta(minutes=minute))
                fired |= {(a.labels["version"], a.fired_at) for a in report.firing}
            assert {v for v, _ in fired} == {labels.removeprefix("version=")}
            assert len(fired) == 1
            ((_, at),) = fired
            assert tick - timedelta(minutes=5) < at <= tick
    finally:
        store.close()
