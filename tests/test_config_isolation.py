"""One broken alert config is reported (file:line) and skipped; every other rule still runs."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from tests.conftest import T0

BROKEN_SYNTAX = """model: churn
rules:
  - name: drift
    metric: feature.drift.psi
    window: [1h
"""

ONE_BAD_RULE = """model: search
rules:
  - name: ok-rule
    metric: latency.p99
    window: 30m
    detector: {type: threshold, above: 1}
  - name: bad-rule
    metric: latency.p99
    window: thirty minutes
    detector: {type: threshold, above: 1}
"""


def test_broken_file_is_located_and_the_rest_still_evaluates(
    tmp_path: Path, seeded_store, fleet_refs
) -> None:
    shutil.copytree("examples", tmp_path / "examples")
    rules_dir = tmp_path / "examples" / "rules"
    for name in ("churn", "ranker", "search"):
        (rules_dir / f"{name}.yaml").unlink()
    (rules_dir / "churn.yaml").write_text(BROKEN_SYNTAX)
    (rules_dir / "search.yaml").write_text(ONE_BAD_RULE)
    loaded = load_rules([rules_dir])
    messages = [str(i) for i in loaded.issues]
    assert any(
        m.startswith(f"{rules_dir / 'churn.yaml'}:6:1: YAML syntax error") for m in messages
    ), messages
    assert any(
        m.startswith(f'{rules_dir / "search.yaml"}:9:13: rule 2 "bad-rule": window:')
        for m in messages
    ), messages
    names = {(r.model, r.name) for r in loaded.rules}
    assert ("search", "ok-rule") in names and ("search", "bad-rule") not in names
    assert {n for m, n in names if m == "fraud"} == {
        "p99-latency",
        "null-rate",
        "feature-drift",
        "constant-feature",
        "data-contract",
    }
    assert len(loaded.issues) == 2, messages  # exactly the two broken places
    ev = Evaluator(loaded.rules, seeded_store, references=fleet_refs)
    for minute in range(10, -1, -1):
        report = ev.tick(T0 - timedelta(minutes=minute))
    assert not report.errors, report.errors
    firing = {(a.labels["model"], a.labels["alertname"]) for a in report.firing}
    assert ("fraud", "p99-latency") in firing  # the good file still alerts
    assert ("search", "ok-rule") in firing  # and the good rule of the half-broken file too
