"""A window the rule cannot judge keeps its alert's state (``when_not_judged: keep``).

A drift rule leaves a window with fewer values than ``min_count`` not judged (a nightly
traffic lull). Its firing alert used to resolve there, as an absent series does in
Prometheus: a RESOLVED notification at night, and when the morning traffic came back still
drifted, a new page for the same incident. "Unknown" is not "recovered": now the alert keeps
its state, saying why and since when (annotations ``not_judged``, ``not_judged_since``);
``when_not_judged: resolve`` gives the old behaviour, and a window without any row still
resolves. The store is a real DuckDB store filled through the SDK's ``Monitor``; rules are
loaded from YAML text and run by the real evaluator.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator, TickReport
from modelhealth.rules.selfmetrics import EngineMetrics
from modelhealth.rules.state import AlertStateStore, load_history
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import Alert, AlertState
from tests.conftest import T0

HOUR = timedelta(hours=1)
LULL = "37 values in the window, fewer than min_count 100"


def _reference() -> ModelReference:
    rng = np.random.default_rng(0)
    return build_reference("fraud", pd.DataFrame({"amount": rng.normal(0, 1, 5000)}))


def _store(hours: list[tuple[int, float]], path: Path | None = None) -> DuckDBStore:
    """``(n, shift)`` per hour: n values of amount ~ N(shift, 1) spread over the hour that
    ends at T0 + i hours (i = 0, 1, ...); n = 0 leaves the hour without any row."""
    store = DuckDBStore(path or ":memory:")
    rng = np.random.default_rng(1)
    mon = Monitor(DuckDBSink(store), {"fraud": _reference()}, clock=FakeClock(T0))
    for i, (n, shift) in enumerate(hours):
        if not n:
            continue
        start = to_epoch_ms(T0 + i * HOUR - HOUR)
        mon.log_batch(
            model="fraud",
            version="v1",
            features={"amount": rng.normal(shift, 1, n)},
            score=rng.uniform(0, 1, n),
            latency_ms=np.ones(n),
            ts_ms=start + np.linspace(0, 3_599_000, n).astype(np.int64),
        )
    mon.close()
    return store


def _rules(ref_path: Path, extra: str = "") -> list:
    text = (
        f"model: fraud\nreference: {ref_path}\nrules:\n"
        "  - name: drift\n    metric: feature.drift.psi\n    features: [amount]\n"
        f"    window: 1h\n    min_count: 100\n{extra}"
        "    detector: {type: threshold, above: 0.2}\n"
    )
    loaded = load_rules_text(text, "fraud.yaml")
    assert loaded.ok, [str(i) for i in loaded.issues]
    return loaded.rules


@pytest.fixture()
def ref_path(tmp_path: Path) -> Path:
    path = tmp_path / "fraud.json"
    _reference().save(path)
    return path


class Told:
    """The notify hook: every alert handed over, per tick."""

    def __init__(self) -> None:
        self.ticks: list[list[Alert]] = []

    def __call__(self, alerts, now) -> None:
        self.ticks.append(list(alerts))

    def resolved(self) -> list[Alert]:
        return [a for tick in self.ticks for a in tick if a.is_resolved]


def _evaluator(rules: list, store: DuckDBStore, state: Path, told: Told) -> Evaluator:
    return Evaluator(rules, store, state=AlertStateStore(state), notify=told)


def _tick(ev: Evaluator, at) -> TickReport:
    report = ev.tick(at)
    assert not report.errors, report.errors
    return report


# drifted, a quiet drifted hour, another, drifted again, healthy
NIGHT = [(500, 3.0), (37, 3.0), (37, 3.0), (500, 3.0), (500, 0.0)]


def test_a_low_traffic_window_keeps_a_firing_alert_open(ref_path: Path, tmp_path: Path) -> None:
    store = _store(NIGHT)
    rules = _rules(ref_path)
    told, state = Told(), tmp_path / "state" / "alerts.json"
    ev = _evaluator(rules, store, state, told)
    first = _tick(ev, T0)
    (fired,) = first.firing
    assert fired.state == AlertState.FIRING and fired.fired_at == T0 and fired.value > 0.2
    assert "not_judged" not in fired.annotations

    # the quiet hour: not judged, and the alert stays firing, without a resolve
    quiet = _tick(ev, T0 + HOUR)
    assert quiet.not_judged == {"fraud/drift": f"feature=amount: {LULL}"}
    assert quiet.resolved == [] and quiet.changed == []
    (kept,) = quiet.firing
    assert kept.state == AlertState.FIRING and kept.fired_at == T0 and not kept.is_resolved
    assert kept.value == fired.value  # the last judged value
    assert kept.annotations["not_judged"] == LULL
    assert kept.annotations["not_judged_since"] == (T0 + HOUR).isoformat()
    assert kept.annotations["detail"] == fired.annotations["detail"]  # the last judgement
    assert quiet.kept == [kept]
    assert rules[0].when_not_judged == "keep"  # the default

    # a restart in the lull: the state file remembers since when it is not judged
    ev = _evaluator(rules, store, state, told)
    quiet2 = _tick(ev, T0 + 2 * HOUR)
    (kept2,) = quiet2.firing
    assert quiet2.resolved == [] and quiet2.changed == []
    assert kept2.fired_at == T0 and kept2.annotations["not_judged_since"] == (T0 + HOUR).isoformat()

    # the morning traffic, still drifted: the same alert, no new FIRING transition
    morning = _tick(ev, T0 + 3 * HOUR)
    (again,) = morning.firing
    assert morning.changed == [] and morning.resolved == [] and morning.kept == []
    assert again.fired_at == T0 and again.active_at == T0
    assert "not_judged" not in again.annotations
    assert "not_judged_since" not in again.annotations

    # healthy traffic: it resolves, judged
    healthy = _tick(ev, T0 + 4 * HOUR)
    (resolved,) = healthy.resolved
    assert resolved.fired_at == T0 and resolved.resolved_at == T0 + 4 * HOUR
    assert "not judged" not in resolved.annotations["detail"]
    assert not ev.state.alerts

    # one page, one resolve: the notifications and the history agree
    assert [a.resolved_at for a in told.resolved()] == [T0 + 4 * HOUR]
    firing_told = {a.fired_at for tick in told.ticks for a in tick if not a.is_resolved}
    assert firing_told == {T0}
    history = load_history(state.with_name("history.jsonl"))
    assert [(h["state"], h["at"]) for h in history] == [
        ("firing", T0.isoformat()),
        ("inactive", (T0 + 4 * HOUR).isoformat()),
    ]


def test_when_not_judged_resolve_gives_the_old_behaviour(ref_path: Path, tmp_path: Path) -> None:
    store = _store(NIGHT)
    rules = _rules(ref_path, "    when_not_judged: resolve\n")
    assert rules[0].when_not_judged == "resolve"
    told = Told()
    ev = _evaluator(rules, store, tmp_path / "state" / "alerts.json", told)
    assert len(_tick(ev, T0).firing) == 1
    quiet = _tick(ev, T0 + HOUR)
    (resolved,) = quiet.resolved
    assert quiet.firing == [] and quiet.kept == []
    assert resolved.annotations["detail"] == f"{LULL}: resolved as not judged"
    assert "not_judged" not in resolved.annotations
    assert _tick(ev, T0 + 2 * HOUR).firing == []
    (refired,) = _tick(ev, T0 + 3 * HOUR).firing  # a new page for the same drift
    assert refired.fired_at == T0 + 3 * HOUR
    assert [a.resolved_at for a in told.resolved()] == [T0 + HOUR]


def test_a_window_without_any_row_still_resolves(ref_path: Path, tmp_path: Path) -> None:
    """No rows at all is an absent series, as in Prometheus: the alert resolves (and says
    so), whatever ``when_not_judged`` says."""
    store = _store([(500, 3.0), (0, 0.0)])
    ev = _evaluator(_rules(ref_path), store, tmp_path / "state" / "alerts.json", Told())
    assert len(_tick(ev, T0).firing) == 1
    report = _tick(ev, T0 + HOUR)
    (resolved,) = report.resolved
    assert report.firing == [] and not ev.state.alerts
    assert resolved.annotations["detail"] == "no data in the window: resolved as not judged"


def test_a_pending_alert_stays_pending_and_fires_only_when_judged(
    ref_path: Path, tmp_path: Path
) -> None:
    """``for: 1h`` has elapsed at the quiet hour, but nothing was judged there: it stays
    pending, and fires at the next judged tick whose window still drifts."""
    store = _store(NIGHT)
    rules = _rules(ref_path, "    for: 1h\n")
    ev = _evaluator(rules, store, tmp_path / "state" / "alerts.json", Told())
    assert _tick(ev, T0).firing == []
    (pending,) = ev.state.alerts.values()
    assert pending.state == AlertState.PENDING
    quiet = _tick(ev, T0 + HOUR)
    assert quiet.firing == [] and quiet.changed == []
    (still,) = ev.state.alerts.values()
    assert still.state == AlertState.PENDING and still.active_at == T0
    assert still.annotations["not_judged"] == LULL
    _tick(ev, T0 + 2 * HOUR)
    assert [a.state for a in ev.state.alerts.values()] == [AlertState.PENDING]
    (fired,) = _tick(ev, T0 + 3 * HOUR).firing
    assert fired.fired_at == T0 + 3 * HOUR and fired.active_at == T0


def test_an_inactive_instance_stays_inactive(ref_path: Path, tmp_path: Path) -> None:
    store = _store([(500, 0.0), (37, 3.0)])
    ev = _evaluator(_rules(ref_path), store, tmp_path / "state" / "alerts.json", Told())
    assert _tick(ev, T0).firing == []
    quiet = _tick(ev, T0 + HOUR)
    assert quiet.firing == [] and quiet.changed == [] and not ev.state.alerts
    assert quiet.not_judged == {"fraud/drift": f"feature=amount: {LULL}"}


def test_metrics_expose_alerts_kept_while_not_judged(ref_path: Path, tmp_path: Path) -> None:
    """The bound: a kept alert is never silent. ``/metrics`` counts the alerts kept while
    not judged, and gives since when the longest-kept one is, to alert on."""
    store = _store(NIGHT)
    ev = _evaluator(_rules(ref_path), store, tmp_path / "state" / "alerts.json", Told())
    metrics = EngineMetrics()
    metrics.alerts = lambda: list(ev.state.alerts.values())
    _tick(ev, T0)
    text = metrics.render()
    assert "# TYPE modelhealth_alerts_not_judged gauge" in text
    assert "modelhealth_alerts_not_judged{" not in text
    assert "\nmodelhealth_alerts_not_judged_since_timestamp_seconds " not in text
    _tick(ev, T0 + HOUR)
    _tick(ev, T0 + 2 * HOUR)
    text = metrics.render()
    assert 'modelhealth_alerts_not_judged{severity="warning",state="firing"} 1\n' in text
    since = (T0 + HOUR).timestamp()
    assert f"modelhealth_alerts_not_judged_since_timestamp_seconds {since:.17g}\n" in text
    _tick(ev, T0 + 3 * HOUR)
    assert "modelhealth_alerts_not_judged{" not in metrics.render()


def test_a_bad_value_is_a_config_error_at_its_line() -> None:
    text = (
        "model: fraud\nrules:\n"
        "  - name: drift\n    metric: performance.accuracy\n    window: 1h\n"
        "    when_not_judged: resolved\n"
        "    detector: {type: threshold, below: 0.9}\n"
    )
    loaded = load_rules_text(text, "fraud.yaml")
    assert not loaded.rules
    (issue,) = loaded.issues
    assert str(issue).startswith('fraud.yaml:6:22: rule 1 "drift": when_not_judged: must be one'), (
        str(issue)
    )
    assert "got 'resolved' (did you mean 'resolve'?)" in str(issue)
    for value in ("true", "[keep]", "1"):
        loaded = load_rules_text(text.replace("resolved", value), "fraud.yaml")
        assert not loaded.rules and "when_not_judged" in str(loaded.issues[0]), value


def test_the_field_enters_the_rule_id_only_when_not_the_default(ref_path: Path) -> None:
    (plain,) = _rules(ref_path)
    (keep,) = _rules(ref_path, "    when_not_judged: keep\n")
    (resolve,) = _rules(ref_path, "    when_not_judged: resolve\n")
    assert plain.rule_id == keep.rule_id != resolve.rule_id


def test_rules_eval_says_the_alert_is_kept(ref_path: Path, tmp_path: Path, capsys) -> None:
    db = tmp_path / "health.duckdb"
    _store(NIGHT, db).close()
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(
        f"model: fraud\nreference: {ref_path}\nrules:\n"
        "  - name: drift\n    metric: feature.drift.psi\n    window: 1h\n"
        "    detector: {type: threshold, above: 0.2}\n"
    )
    state = tmp_path / "state" / "alerts.json"
    base = ["eval", "--db", str(db), "--state", str(state), str(cfg), "--at"]
    assert rules_main([*base, T0.isoformat()]) == 0
    assert "1 firing" in capsys.readouterr().out
    assert rules_main([*base, (T0 + HOUR).isoformat()]) == 0
    out, err = capsys.readouterr()
    assert "1 firing" in out, out
    assert (
        "note: fraud/drift: not judged: feature=amount: 37 values in the window, fewer than "
        "min_count 100 (the default for feature.drift.psi rules)"
    ) in err, err
    assert (
        f"note: fraud/drift, feature=amount: firing alert kept, not judged since "
        f"{(T0 + HOUR).isoformat()} (when_not_judged: keep)"
    ) in err, err
