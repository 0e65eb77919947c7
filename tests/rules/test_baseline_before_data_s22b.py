"""Round 22b QA: a baseline (or history) from before the store's first data is not a 0.

``count`` and ``qps`` read a window without requests as 0, which is right while the model
was live (a real drop to nothing). A ``change`` rule with ``baseline: {shift: 3d}`` on a
model deployed two days ago read its baseline window, before the model existed, as 0 too and
paged at once with ``0.9458 vs baseline 0 (+inf%)``: every model younger than its rule's
shift paged. The same held for a baseline window only partly after the first data (half a
window of requests against a whole one), for a baseline version that never served, and for
the first history bucket of a new model (a minute of requests in a five-minute bucket), which
a seasonal detector compared a day later with a full bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules.cli import rules_main, unmatched_note
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import AlertState

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def _fill(store: DuckDBStore, spans: list[tuple[str, timedelta, timedelta]]) -> None:
    """One request of model ``m`` every 30 s in each ``(version, start, end)`` after T."""
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T))
    for version, start, end in spans:
        ts = np.arange(to_epoch_ms(T + start), to_epoch_ms(T + end), 30_000)
        mon.log_batch(
            model="m",
            version=version,
            features={},
            score=np.full(len(ts), 0.5),
            latency_ms=np.full(len(ts), 20.0),
            ts_ms=ts,
        )
    mon.flush()


def _store(spans: list[tuple[str, timedelta, timedelta]]) -> DuckDBStore:
    store = DuckDBStore()
    _fill(store, spans)
    return store


def _rules(body: str) -> list:
    loaded = load_rules_text("model: m\nrules:\n" + body, "m.yaml")
    assert loaded.ok, loaded.issues
    return loaded.rules


def _change(metric: str, baseline: str, extra: str = "", name: str = "r") -> str:
    return (
        f"  - name: {name}\n    metric: {metric}\n    window: 1h\n{extra}"
        f"    baseline: {baseline}\n    detector: {{type: change, pct: 50}}\n"
    )


def _details(ev: Evaluator) -> list[str]:
    return [a.annotations.get("detail", "") for a in ev.state.alerts.values()]


# -- the QA report, through the command line ------------------------------------------------------
@pytest.fixture
def young_db(tmp_path: Path) -> Path:
    """A DuckDB file with two days of model m (one request every 30 s) up to T."""
    db = tmp_path / "young.duckdb"
    store = DuckDBStore(db)
    _fill(store, [("v1", -2 * D, timedelta(0))])
    store.close()
    return db


def test_eval_of_a_shift_longer_than_the_models_life_does_not_page(
    tmp_path: Path, young_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "m.yaml"
    rules.write_text(
        "model: m\nrules:\n"
        + _change("qps", "{shift: 3d}", name="qps-vs-3d-ago")
        + _change("count", "{shift: 3d}", name="count-vs-3d-ago")
    )
    code = rules_main(["eval", "--db", str(young_db), "--at", T.isoformat(), str(rules)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "FIRING" not in out and "+inf%" not in out, out
    assert "evaluated 2 rule(s), 0 instance(s)" in out
    first = (T - 2 * D).isoformat()
    from_ = (T - 2 * D + 3 * D + H).isoformat()
    for name in ("qps-vs-3d-ago", "count-vs-3d-ago"):
        # the owner is told why the rule is quiet and from when it is judged
        assert (
            f"note: m/{name}: not judged: baseline not available yet: the baseline window "
            f"(the same window 3d earlier) starts at {(T - 3 * D - H).isoformat()}, before "
            f"the first data of model m in the store ({first}); judged from {from_} on"
        ) in err, err
        assert f"note: m/{name}: {unmatched_note()}" not in err


def test_a_model_live_through_a_silent_baseline_still_compares_with_zero() -> None:
    """Zero requests while the model was already live is a real value: kept as 0."""
    store = _store([("v1", -4 * D, -3 * D - 2 * H), ("v1", -H, timedelta(0))])
    ev = Evaluator(_rules(_change("count", "{shift: 3d}")), store)
    report = ev.tick(T)
    (alert,) = ev.state.alerts.values()
    assert report.instances == 1 and alert.state is AlertState.FIRING
    assert alert.annotations["detail"] == "120 vs baseline 0 (+inf%, limit 50%)"


def test_a_baseline_window_partly_before_the_first_data_is_not_judged() -> None:
    """Half an hour of requests in the hour three days ago is not the baseline: it read as
    a 100 % rise in traffic."""
    store = _store([("v1", -3 * D - 30 * 60 * timedelta(seconds=1), timedelta(0))])
    ev = Evaluator(_rules(_change("count", "{shift: 3d}")), store)
    report = ev.tick(T)
    assert report.instances == 0 and not ev.state.alerts
    assert report.not_judged["m/r"].startswith("baseline not available yet:")
    ev.tick(T + 30 * timedelta(minutes=1))  # the baseline window is all after the first data
    assert not ev.state.alerts


def test_a_per_version_rule_waits_for_the_young_versions_baseline_only() -> None:
    store = _store([("v1", -4 * D, timedelta(0)), ("v2", -D, timedelta(0))])
    rules = _rules(_change("qps", "{shift: 3d}", "    group_by: [version]\n"))
    ev = Evaluator(rules, store)
    report = ev.tick(T)
    assert report.instances == 1 and ev.state.alerts == {}  # v1 judged: no change
    why = report.not_judged["m/r"]
    assert why.startswith("version=v2: baseline not available yet:")
    assert f"before the first data of model m version v2 in the store ({(T - D).isoformat()})" in (
        why
    )


def test_a_baseline_version_that_never_served_is_not_a_zero() -> None:
    store = _store([("v1", -D, timedelta(0))])
    rules = _rules(_change("count", "{version: v9}", "    version: v1\n"))
    ev = Evaluator(rules, store)
    report = ev.tick(T)
    assert not ev.state.alerts
    assert report.not_judged["m/r"] == (
        "baseline not available: model m version v9 has no data in the store"
    )


@pytest.mark.parametrize("when", ["keep", "resolve"])
def test_a_firing_alert_resolves_saying_the_baseline_is_not_there(when: str) -> None:
    """A page raised before the fix (kept in the alert state) resolves with the reason with
    ``when_not_judged: resolve``; by default (keep) a window the rule cannot judge keeps the
    alert's state, and it says why (tests/rules/test_not_judged_keeps_state_s27i.py)."""
    store = _store([("v1", -4 * D, -3 * D - 2 * H), ("v1", -H, timedelta(0))])
    extra = f"    when_not_judged: {when}\n"
    ev = Evaluator(_rules(_change("count", "{shift: 3d}", extra)), store)
    ev.tick(T)
    assert len(ev.state.alerts) == 1
    # a rule whose baseline now lies before the first data: same rule id, fresh evaluator
    late = Evaluator(_rules(_change("count", "{shift: 5d}", extra)), store, state=ev.state)
    rep = late.tick(T)
    if when == "keep":
        (kept,) = rep.firing
        assert rep.resolved == [] and rep.changed == []
        assert kept.annotations["not_judged"].startswith("baseline not available yet:")
        return
    (resolved,) = rep.resolved
    assert resolved.annotations["detail"].startswith("baseline not available yet:")


# -- history before the first data: detectors without a baseline -------------------------------
@pytest.mark.parametrize(
    "detector",
    [
        "{type: seasonal, season: 3d, periods: 2}",
        "{type: zscore, z: 3, lookback: 5d, min_points: 6}",
        "{type: holt_winters, season: 1d, cycles: 3}",
        "{type: change, pct: 10, lookback: 4d}",
    ],
)
def test_long_lookbacks_on_a_young_model_do_not_page(detector: str) -> None:
    """These never read the time before the first data as 0 (their history zeros start at
    each instance's first bucket): checked here so it stays that way."""
    store = _store([("v1", -2 * D, timedelta(0))])
    rules = _rules(f"  - name: r\n    metric: qps\n    window: 1h\n    detector: {detector}\n")
    ev = Evaluator(rules, store)
    for at in (T - 2 * D + 2 * H, T - D, T):
        ev.tick(at)
        assert not ev.state.alerts, (at, _details(ev))


@pytest.mark.parametrize(
    ("detector", "at"),
    [
        # the newest complete 5-minute window vs the same one a day before: the first bucket
        ("{type: seasonal, season: 1d, periods: 1}", T - D + timedelta(minutes=6)),
        # the mean of the last half hour of buckets, the first of them partial
        ("{type: change, pct: 10, lookback: 30m}", T - 2 * D + timedelta(minutes=35)),
    ],
)
def test_the_first_history_bucket_of_a_new_model_is_not_a_low_value(
    detector: str, at: datetime
) -> None:
    """The model starts four minutes into a five-minute bucket: that bucket holds two
    requests where every later one holds ten. Compared with it, a normal window read as
    five times the traffic (seasonal) or 15 % above the mean (change over a lookback)."""
    store = _store([("v1", -2 * D + timedelta(minutes=4), timedelta(0))])
    rules = _rules(f"  - name: r\n    metric: count\n    window: 5m\n    detector: {detector}\n")
    ev = Evaluator(rules, store)
    report = ev.tick(at)
    assert report.instances == 1 and not report.errors, report.errors
    assert not ev.state.alerts, _details(ev)


# -- how the engine learns the first data: the store's time_range, per version too ---------------
def test_time_range_of_one_version_on_duckdb() -> None:
    store = _store([("v1", -4 * D, -D), ("v2", -D, timedelta(0))])
    last = to_epoch_ms(T) - 30_000
    assert store.time_range("m") == (to_epoch_ms(T - 4 * D), last)
    assert store.time_range("m", version="v2") == (to_epoch_ms(T - D), last)
    assert store.time_range("m", version="v1") == (
        to_epoch_ms(T - 4 * D),
        to_epoch_ms(T - D) - 30_000,
    )
    assert store.time_range("m", version="v9") is None
    with pytest.raises(ValueError, match="needs its model"):
        store.time_range(None, version="v1")
    with pytest.raises(ValueError, match="version"):
        store.time_range("m", version="v 1")


def test_time_range_of_one_version_on_pinot_filters_the_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same filter in the Pinot backend's SQL (no broker needed to read it)."""
    pytest.importorskip("pinotdb")
    import pandas as pd

    from modelhealth.store.pinot import PinotStore

    asked: list[tuple[str, dict[str, object]]] = []

    def answer(sql: str, params: dict[str, object] | None = None) -> pd.DataFrame:
        asked.append((sql, dict(params or {})))
        return pd.DataFrame({"n": [2], "lo": [1000], "hi": [2000]})

    store = PinotStore("http://127.0.0.1:9", timeout=1)
    monkeypatch.setattr(store, "_query", answer)
    assert store.time_range("m", version="v2") == (1000, 2000)
    assert store.time_range("m") == (1000, 2000)
    (sql, params), (plain, plain_params) = asked
    assert sql.endswith('WHERE model = %(model)s AND "version" = %(version)s')
    assert params == {"model": "m", "version": "v2"}
    assert plain.endswith("WHERE model = %(model)s") and plain_params == {"model": "m"}
    with pytest.raises(ValueError, match="needs its model"):
        store.time_range(None, version="v2")


class _Counting:
    """A store that counts its time_range calls."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store
        self.asked: list[tuple[object, ...]] = []

    def time_range(self, *args: object, **kwargs: object) -> object:
        self.asked.append((*args, *kwargs.values()))
        return self._store.time_range(*args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_the_first_data_is_looked_up_once_an_hour_not_at_every_tick() -> None:
    from modelhealth.rules.backtest import backtest

    store = _Counting(_store([("v1", -4 * D, timedelta(0)), ("v2", -D, timedelta(0))]))
    rules = _rules(
        _change("qps", "{shift: 3d}", "    group_by: [version]\n", name="per-version")
        + "  - name: z\n    metric: count\n    window: 5m\n"
        "    detector: {type: zscore, z: 3, lookback: 1h}\n"
    )
    result = backtest(rules, store, T - 2 * H, T - timedelta(minutes=1), timedelta(minutes=1))
    assert result.ticks == 120 and not result.errors and not result.firings
    # model (zscore history), v1 and v2 (the per-version baseline): once, and again an hour on
    assert sorted(store.asked) == sorted([("m",), ("m", "v1"), ("m", "v2")] * 2)
