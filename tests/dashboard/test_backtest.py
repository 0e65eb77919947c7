"""The Configs page's backtest: the rules engine's backtest and the built-in replay agree."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.backtest import MAX_TICKS, _replay, replay, tick_times
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import load_rules
from modelhealth.store.duckdb import DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import REFS, RULES, Deployment


def test_replay_finds_the_fraud_v3_latency_regression(deployment: Deployment) -> None:
    rules = [r for r in load_rules([RULES]).rules if r.model == "fraud"]
    refs = {"fraud": ModelReference.load(REFS / "fraud.json")}
    lo, hi = to_epoch_ms(T0 - timedelta(hours=6)), to_epoch_ms(T0)
    store = DuckDBStore(deployment.db, read_only=True)
    try:
        engine = replay(rules, store, refs, lo, hi)
        own = _replay(rules, store, refs, tick_times(lo, hi, rules), hi)
    finally:
        store.close()
    for spans in (engine, own):
        lat = spans[spans["rule"] == "p99-latency"]
        assert list(lat["labels"]) == ["version=v3"]
        assert pd.Timestamp(T0 - timedelta(hours=3)) <= lat["start"].iloc[0]
        assert lat["end"].iloc[0] == pd.Timestamp(T0)  # still firing at the end
        assert "null-rate" in set(spans["rule"])  # merchant_category null spike
    assert set(engine["rule"]) == set(own["rule"])


def test_tick_times_are_whole_minutes_and_bounded() -> None:
    rules = load_rules([RULES]).rules
    times = tick_times(0, 30 * 86_400_000, rules)
    assert len(times) <= MAX_TICKS
    assert all(t.second == 0 and t.microsecond == 0 for t in times)
    assert tick_times(0, 3_600_000, rules)[1] - tick_times(0, 3_600_000, rules)[0] == timedelta(
        minutes=5
    )


def test_a_replay_that_failed_says_so_instead_of_no_firings(tmp_path) -> None:
    """A store that went away during the replay read as "0 firing spans"."""
    rules = [r for r in load_rules([RULES]).rules if r.model == "fraud"]
    store = DuckDBStore(tmp_path / "gone.duckdb")
    store.close()  # every query now fails
    lo = to_epoch_ms(T0 - timedelta(hours=1))
    spans = replay(rules, store, {}, lo, to_epoch_ms(T0))
    assert set(spans["rule"]) <= {"MonitoringBlind"}  # the outage itself, no rule's firing
    errors = spans.attrs["errors"]
    assert errors and set(errors) <= {f"fraud/{r.name}" for r in rules}
