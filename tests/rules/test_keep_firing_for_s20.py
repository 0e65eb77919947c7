"""``keep_firing_for:`` (Prometheus 2.42): a firing alert outlives a short lull in its
condition or its data instead of resolving and paging again.

Rules whose data arrives in batches flapped: a quality rule's window held too few labels
between hourly label batches, so its alert resolved and re-fired every batch (each time a
resolve and a new page). The README's only remedy was a ``label_delay`` covering the batch.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore, step
from modelhealth.types import AlertState
from tests.rules.test_state import LABELS, RULE, T, slow_store  # noqa: F401 (fixture)

KEEP = timedelta(minutes=10)


def _firing():
    a = step(None, True, 1.0, T, timedelta(0), LABELS, {"summary": "bad"})
    assert a is not None and a.state == AlertState.FIRING
    return a


def test_a_firing_alert_is_kept_through_a_lull_shorter_than_keep_firing_for() -> None:
    a = _firing()
    kept = step(a, False, 0.0, T + timedelta(minutes=1), timedelta(0), LABELS, {}, KEEP)
    assert kept is not None and kept.state == AlertState.FIRING and not kept.is_resolved
    assert kept.kept_firing_since == T + timedelta(minutes=1)
    assert kept.annotations == {"summary": "bad"} and kept.fired_at == T
    later = step(kept, False, 0.0, T + timedelta(minutes=10), timedelta(0), LABELS, {}, KEEP)
    assert later is not None and not later.is_resolved  # 9 minutes into the lull
    back = step(later, True, 2.0, T + timedelta(minutes=11), timedelta(0), LABELS, {}, KEEP)
    assert back is not None and back.state == AlertState.FIRING and back.fired_at == T
    assert back.kept_firing_since is None  # the next lull counts afresh


def test_it_resolves_once_the_lull_outlasts_keep_firing_for() -> None:
    a = step(_firing(), False, 0.0, T + timedelta(minutes=1), timedelta(0), LABELS, {}, KEEP)
    resolved = step(a, False, 0.0, T + timedelta(minutes=11), timedelta(0), LABELS, {}, KEEP)
    assert resolved is not None and resolved.is_resolved
    assert resolved.resolved_at == T + timedelta(minutes=11)
    assert resolved.kept_firing_since is None


def test_without_keep_firing_for_a_lull_resolves_at_once() -> None:
    resolved = step(_firing(), False, 0.0, T + timedelta(minutes=1), timedelta(0), LABELS, {})
    assert resolved is not None and resolved.is_resolved


def test_a_pending_alert_is_not_kept() -> None:
    pending = step(None, True, 1.0, T, timedelta(minutes=5), LABELS, {})
    assert step(pending, False, 0.0, T + timedelta(minutes=1), timedelta(minutes=5), LABELS,
                {}, KEEP) is None  # fmt: skip


KEPT_RULE = RULE.replace("    for: 3m\n", "    for: 3m\n    keep_firing_for: 30m\n")


def test_the_rule_field_is_parsed_and_enters_the_rule_id_only_when_set() -> None:
    (plain,) = load_rules_text(RULE, "r.yaml").rules
    (kept,) = load_rules_text(KEPT_RULE, "r.yaml").rules
    assert plain.keep_firing_for == timedelta(0) and kept.keep_firing_for == timedelta(minutes=30)
    assert plain.rule_id != kept.rule_id
    # rules without the field keep the ids they had before it existed
    assert plain.rule_id == load_rules_text(RULE, "r.yaml").rules[0].rule_id
    bad = load_rules_text(RULE.replace("for: 3m", "for: 3m\n    keep_firing_for: soon"), "r.yaml")
    assert not bad.rules and "keep_firing_for" in str(bad.issues[0])


@pytest.mark.parametrize("keep", [False, True])
def test_an_alert_outlives_a_gap_in_its_data_only_with_keep_firing_for(
    slow_store,  # noqa: F811
    tmp_path,
    keep: bool,
) -> None:
    """The fixture's latency is high from T to T+1h and normal after. Ticking at T+2h30m
    leaves the 10-minute window with no data at all (the fixture's rows end at T+2h): the
    instance is not judged. Without keep_firing_for the alert resolves there; with 30m it
    stays firing, then resolves once the gap outlasts 30 minutes."""
    rules = load_rules_text(KEPT_RULE if keep else RULE, "r.yaml").rules
    path = tmp_path / "alerts.json"
    ev = Evaluator(rules, slow_store, state=AlertStateStore(path))
    for minute in range(0, 12):
        ev.tick(T + timedelta(minutes=minute))
    assert [a.state for a in ev.state.alerts.values()] == [AlertState.FIRING]
    gap = T + timedelta(hours=2, minutes=30)
    rep = ev.tick(gap)
    if not keep:
        assert len(rep.resolved) == 1
        return
    assert rep.resolved == [] and rep.changed == [] and len(rep.firing) == 1
    ev.state.save()
    # a restart keeps counting the lull from where it began
    ev2 = Evaluator(rules, slow_store, state=AlertStateStore(path))
    assert ev2.tick(gap + timedelta(minutes=20)).resolved == []
    rep = ev2.tick(gap + timedelta(minutes=31))
    assert len(rep.resolved) == 1 and rep.resolved[0].resolved_at == gap + timedelta(minutes=31)
