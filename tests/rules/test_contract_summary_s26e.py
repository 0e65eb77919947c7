"""What ``rules eval`` says (and does) after a load whose only error is a contract read
without a bad column entry.

Such a contract skips no rule: every rule of its file loads, and its ``contract.*`` rules
judge the other columns. The command line still said "those rules are skipped, the other N
run", sending the owner to look for rules that were running, and it kept the alerts of a
rule deleted from any file as if that file had been skipped. The error still fails the
command (exit 1), as the README documents.

Real CLI calls on a DuckDB store filled through the SDK's ``Monitor``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from modelhealth.rules.cli import rules_main
from tests.rules.test_contract_feed_s26d import (
    PER_MINUTE,
    START,
    STATUS_RULE,
    _break_country,
    _rules,
    _store,
)

CANARY = """\
  - name: canary
    metric: count
    window: 30m
    detector: {type: threshold, above: -1}
"""


def _summary(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("rules: ")]
    return line


def _setup(tmp_path: Path) -> tuple[Path, list[str]]:
    """fraud's rules (a contract.status rule and ``canary``, which fires on any traffic)
    with country's contract entry misspelt; the eval arguments at 10:45."""
    _rules(tmp_path, STATUS_RULE + CANARY, expected_rows=None)
    _break_country(tmp_path / "contracts" / "fraud.contract.yaml")
    db = tmp_path / "fraud.duckdb"
    _store(db, [("v1", 0, 60, PER_MINUTE)]).close()
    at = (START + timedelta(minutes=45)).isoformat()
    args = ["eval", "--db", str(db), "--at", at, "--alerts-db", str(tmp_path / "a.db")]
    return tmp_path / "rules", args


def test_a_partly_read_contract_is_not_reported_as_skipping_rules(tmp_path, capsys):
    """Both rules run; the summary says the error skipped none, and the command fails."""
    rules, args = _setup(tmp_path)
    assert rules_main([*args, str(rules)]) == 1
    out = capsys.readouterr()
    assert "evaluated 2 rule(s)" in out.out
    assert _summary(out.err) == (
        "rules: 1 error(s) above, in a data contract read without the bad entries named: no"
        " rule is skipped, all 2 run (the contract.* rules leave those entries out until"
        " fixed)"
    )


def test_a_skipping_error_and_a_partly_read_contract_are_told_apart(tmp_path, capsys):
    """With a broken rule in another file, the summary counts each kind of error."""
    rules, args = _setup(tmp_path)
    (rules / "ranker.yaml").write_text(
        "model: ranker\nrules:\n  - {name: p99, metric: latency.p99, window: 30 minutes,"
        " detector: {type: threshold, above: 100}}\n"
    )
    assert rules_main([*args, str(rules)]) == 1
    out = capsys.readouterr()
    assert _summary(out.err) == (
        "rules: 2 error(s) above: 1 skip rules, the other 2 run (alerts of skipped rules stay"
        " as they were); 1 in a data contract read without the bad entries named skip none"
        " (the contract.* rules leave those entries out until fixed)"
    )


def test_a_skipping_error_alone_keeps_the_documented_line(tmp_path, capsys):
    """The line for errors that skip rules is unchanged (scripts and the README quote it)."""
    rules, args = _setup(tmp_path)
    contract = tmp_path / "contracts" / "fraud.contract.yaml"
    contract.write_text(contract.read_text().replace("categorial", "categorical"))
    (rules / "fraud.yaml").write_text(
        (rules / "fraud.yaml").read_text().replace("window: 30m", "window: 30 minutes", 1)
    )
    assert rules_main([*args, str(rules)]) == 1
    assert _summary(capsys.readouterr().err) == (
        "rules: 1 error(s) above: those rules are skipped, the other 1 run; alerts of"
        " skipped rules stay as they were"
    )


def test_a_deleted_rules_alert_resolves_while_a_contract_is_partly_read(tmp_path, capsys):
    """Deleting a rule resolves its alerts (README). With a partly read contract anywhere
    the deleted rule's alert stayed firing for good, as if its file had been skipped."""
    rules, args = _setup(tmp_path)
    state = tmp_path / "state" / "alerts.json"
    args = [*args, "--state", str(state)]
    assert rules_main([*args, str(rules)]) == 1
    assert any("alertname=canary" in line for line in capsys.readouterr().out.splitlines())
    fraud = rules / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace(CANARY, ""))
    assert rules_main([*args, str(rules)]) == 1
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if "alertname=canary" in line] == [
        "RESOLVED"
    ]
    firing = [
        entry["alert"]["labels"]["alertname"]
        for entry in json.loads(state.read_text())
        if entry["alert"]["state"] == 2  # AlertState.FIRING
    ]
    assert "canary" not in firing
