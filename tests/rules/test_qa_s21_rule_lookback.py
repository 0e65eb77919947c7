"""A ``lookback:`` written at the rule's level says it belongs in ``detector:``.

The README's learned-rule text speaks of a rule's ``lookback:`` (its minimum, 7d16h40m for
5-minute buckets, is checked inside ``detector:``); written beside ``window:``, as a user
reading it would, the rule failed with a bare ``lookback: unknown key`` and no hint.
"""

from __future__ import annotations

from pathlib import Path

from modelhealth.rules.config import load_rules

RULE = """model: fraud
rules:
  - name: p99-zscore
    metric: latency.p99
    window: 5m
    lookback: 2d
    detector: {type: zscore}
"""


def test_a_rule_level_lookback_points_at_the_detector(tmp_path: Path) -> None:
    (tmp_path / "fraud.yaml").write_text(RULE)
    result = load_rules([tmp_path / "fraud.yaml"])
    (issue,) = result.issues
    assert (issue.pos.line, issue.field) == (6, "lookback")
    assert "unknown key" in issue.message and "detector: {type: zscore, lookback:" in issue.message


def test_the_same_lookback_inside_the_detector_loads(tmp_path: Path) -> None:
    moved = RULE.replace("    lookback: 2d\n", "").replace(
        "{type: zscore}", "{type: zscore, lookback: 2d}"
    )
    (tmp_path / "fraud.yaml").write_text(moved)
    result = load_rules([tmp_path / "fraud.yaml"])
    assert not result.issues and len(result.rules) == 1
