"""The demo's quiet replay opens each incident's alert when the incident began, not at t0 - 15
min (the Alerts page read "since" then for all of them), and notifies nobody before t0."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelhealth.demo.incidents import INCIDENTS, Incident
from modelhealth.demo.warmup import FINE, STEP, replay_start, replay_ticks, warm_up
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore, load_history
from tests.conftest import T0

CROSSING = timedelta(minutes=30)
"""How far into an incident its rule's window may cross the threshold (measured: 3-25
minutes, the 30-minute p99 of a 5% slow tail the slowest); the alert opens at the first
replay tick after that."""


def _matches(labels: Mapping[str, Any], inc: Incident) -> bool:
    return (
        labels.get("model") == inc.model
        and labels.get("alertname") == inc.expected_rule
        and (inc.feature is None or labels.get("feature") == inc.feature)
        and (inc.version is None or labels.get("version") in (None, inc.version))
    )


Start = tuple[Mapping[str, Any], datetime]
"""An alert's labels and when it became active (the Alerts page's "since")."""


def _from_history(rows: Sequence[Mapping[str, Any]]) -> list[Start]:
    return [
        (r["labels"], datetime.fromisoformat(str(r["active_at"])))
        for r in rows
        if r.get("active_at")
    ]


def _check_onsets(starts: Sequence[Start], t0: datetime, where: str) -> None:
    """Each incident's alert first became active within a replay step of its window
    crossing the threshold, and not before the incident."""
    for inc in INCIDENTS:
        onset = t0 + inc.start
        opened = min((at for labels, at in starts if _matches(labels, inc)), default=None)
        assert opened is not None, f"{inc.key}: no alert in {where}"
        assert onset <= opened <= onset + CROSSING + STEP, (
            f"{inc.key}: {where} says open since {opened:%H:%M}, but the incident began at "
            f"{onset:%H:%M} (t0 {t0:%H:%M})"
        )


@pytest.fixture(scope="module")
def replayed(seeded_store, fleet_refs, tmp_path_factory):
    """The example rules replayed by the demo's warm-up over the seeded day, a spy as the
    notifier from the start, then the t0 tick."""
    rules = load_rules(["examples/rules"])
    assert rules.ok, rules.issues
    sent: list[datetime] = []
    state = AlertStateStore(tmp_path_factory.mktemp("state") / "alerts.json")
    ev = Evaluator(
        rules.rules,
        seeded_store,
        references=fleet_refs,
        state=state,
        notify=lambda alerts, now: sent.append(now),
    )
    ticks = warm_up(ev, T0, days=1.0)
    quiet = list(sent)
    ev.tick(T0)
    assert state.history_path is not None
    return ticks, quiet, sent, load_history(state.history_path), ev


def test_each_incident_opens_its_alert_near_its_onset(replayed) -> None:
    _, _, _, rows, ev = replayed
    _check_onsets(_from_history(rows), T0, "the history")
    _check_onsets([(a.labels, a.active_at) for a in ev.state.alerts.values()], T0, "the state")


def test_the_replay_notifies_nobody_and_t0_does(replayed) -> None:
    _, quiet, sent, _, ev = replayed
    assert quiet == [], f"notified during the replay, at {quiet}"
    assert sent == [T0], sent  # the alerts open at t0 go out at t0, once
    assert ev.notify is not None  # the replay puts the caller's notifier back


def test_replay_ticks_cover_the_incidents_then_every_minute() -> None:
    t0 = datetime(2026, 11, 27, 10, 29, tzinfo=UTC)
    ticks = replay_ticks(replay_start(t0, days=3.0), t0)
    assert ticks == sorted(set(ticks)) and ticks[-1] < t0
    assert ticks[0] <= t0 + min(inc.start for inc in INCIDENTS) - timedelta(minutes=30)
    fine = ticks[-int(FINE / timedelta(minutes=1)) :]
    assert fine == [t0 - timedelta(minutes=m) for m in range(15, 0, -1)]
    coarse = ticks[: -len(fine)]
    assert all(at.timestamp() % STEP.total_seconds() == 0 for at in coarse)
    assert len(coarse) <= 7 * 60 // 20 + 1  # start-up stays bounded (~0.65 s a tick)


def test_a_short_backfill_bounds_the_replay() -> None:
    t0 = datetime(2026, 11, 27, 10, 29, tzinfo=UTC)
    assert replay_start(t0, days=0.1) == t0 - timedelta(days=0.1)


def test_the_demo_writes_incident_onsets_into_its_alert_history(tmp_path: Path) -> None:
    """End to end (example rules, so no training): the state the dashboard reads."""
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable, "-m", "modelhealth.cli", "demo", "--rules", "examples/rules",
            "--days", "0.3", "--duration", "0", "--no-dashboard", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    found = re.search(r"t0 = demo start = (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", proc.stdout)
    assert found, proc.stdout[:500]
    t0 = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    _check_onsets(_from_history(load_history(out / "state" / "history.jsonl")), t0, "history.jsonl")
    open_now = AlertStateStore(out / "state" / "alerts.json").alerts.values()
    _check_onsets([(a.labels, a.active_at) for a in open_now if a.active_at], t0, "alerts.json")
