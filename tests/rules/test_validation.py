"""Every config error names file:line:col, the rule and the field, with typo suggestions."""

from __future__ import annotations

from pathlib import Path

from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules

HERE = Path(__file__).parent / "fixtures"


def _messages(name: str) -> list[str]:
    result = load_rules([HERE / name])
    return [str(i) for i in result.issues]


def test_typos_are_located_and_suggested():
    f = str(HERE / "bad_typos.yaml")
    msgs = _messages("bad_typos.yaml")
    expected = [
        f"{f}:5:13: rule 1 \"p99\": metric: unknown metric 'latency.p999' (did you mean",
        f'{f}:9:13: rule 2 "drift": metric: feature.drift.psi is compared with the model\'s '
        "reference profile, and this file names none",
        f"{f}:11:22: rule 2 \"drift\": detector.type: unknown detector 'zscor' (did you mean "
        "'zscore'?)",
        f'{f}:12:15: rule 2 "drift": severity: must be one of critical, warning, info, got '
        "'critcal' (did you mean 'critical'?)",
        f'{f}:16:15: rule 3 "sched": schedule: not a cron expression',
        f"{f}:17:14: rule 3 \"sched\": trigger: must be one of new_data, got 'new-data' (did "
        "you mean 'new_data'?)",
        f"{f}:19:23: rule 3 \"sched\": baseline.shfit: unknown key (did you mean 'shift'?)",
    ]
    for prefix in expected:
        assert any(m.startswith(prefix) for m in msgs), (prefix, msgs)
    assert len(msgs) == len(expected)
    lines = [int(m.split(":")[1]) for m in msgs]
    assert lines == sorted(lines), "issues are reported in file order"


def test_syntax_error_has_position():
    msgs = _messages("bad_syntax.yaml")
    assert len(msgs) == 1 and msgs[0].startswith(str(HERE / "bad_syntax.yaml") + ":6:1: YAML")


def test_validate_command_prints_all_errors_and_fails(capsys):
    code = rules_main(["validate", str(HERE / "bad_typos.yaml"), str(HERE / "bad_syntax.yaml")])
    err = capsys.readouterr()
    assert code == 1
    assert err.err.count("bad_typos.yaml:") >= 6 and "bad_syntax.yaml:6:1" in err.err
    assert "error(s)" in err.out


def test_examples_validate_cleanly(capsys):
    assert rules_main(["validate", "examples/rules"]) == 0
    assert "17 rule(s) in 4 file(s); 0 error(s)" in capsys.readouterr().out


def test_metrics_command_lists_catalog(capsys):
    assert rules_main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "feature.drift.js" in out and "score.drift.psi" in out and "feature.distinct" in out


GOOD = """model: fraud
rules:
  - name: p99
    metric: latency.p99
    window: 30m
    detector: {type: threshold, above: 100}
"""
BROKEN = {
    "overflow.yaml": (
        "window: 30m",
        "window: 99999999999w",
        ':5:13: rule 1 "p99": window: too long',
    ),
    "date.yaml": (
        "detector:",
        "baseline: {from: 2026-02-30, to: 2026-03-01}\n    detector:",
        ":6:22: rule 1 \"p99\": baseline.from: '2026-02-30' is not a valid date/time",
    ),
    "type.yaml": (
        "{type: threshold,",
        "{type: [threshold],",
        "detector.type: must be one detector",
    ),
    "model.yaml": (
        "{type: threshold, above: 100}",
        "{type: learned, model: nowhere/}",
        "meta.json: not found",
    ),
}


def test_malformed_values_are_located_and_never_stop_the_other_files(tmp_path, capsys):
    """Each of these crashed the loader with a traceback (OverflowError, ValueError from
    the YAML date, TypeError from an unhashable detector type, UnicodeDecodeError,
    ModelLoadError) and so stopped every other file."""
    for name, (old, new, _) in BROKEN.items():
        text = GOOD.replace(old, new).replace("model: fraud", f"model: {name[:-5]}")
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.yaml").write_bytes("model: caf\xe9\n".encode("latin-1"))
    (tmp_path / "good.yaml").write_text(GOOD)
    loaded = load_rules([tmp_path])
    assert [r.model for r in loaded.rules] == ["fraud"]
    msgs = [str(i) for i in loaded.issues]
    for name, (_, _, expected) in BROKEN.items():
        assert any(m.startswith(str(tmp_path / name)) and expected in m for m in msgs), name
    assert any("latin1.yaml: not UTF-8 text (byte 10)" in m for m in msgs)
    assert rules_main(["validate", str(tmp_path)]) == 1


def test_a_rule_name_may_be_used_once_per_model_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("above: 100", "above: 370"))
    (tmp_path / "c.yaml").write_text(GOOD.replace("model: fraud", "model: search"))
    loaded = load_rules([tmp_path])
    assert sorted((r.model, r.detector_params["above"]) for r in loaded.rules) == [
        ("fraud", 100),
        ("search", 100),
    ]
    (issue,) = loaded.issues
    assert str(issue).startswith(str(tmp_path / "b.yaml") + ":3:5")
    assert f"already defined at {tmp_path / 'a.yaml'}:3:5" in str(issue)


def test_a_reference_that_cannot_be_loaded_is_a_config_error(tmp_path):
    """`rules validate` said 0 errors and the first evaluation crashed on the JSON."""
    (tmp_path / "ref.json").write_text("{\n")
    (tmp_path / "fraud.yaml").write_text(GOOD.replace("rules:", "reference: ref.json\nrules:"))
    (tmp_path / "search.yaml").write_text(
        GOOD.replace("model: fraud", "model: search").replace(
            "rules:", "reference: no.json\nrules:"
        )
    )
    loaded = load_rules([tmp_path])
    msgs = sorted(str(i) for i in loaded.issues)
    assert msgs[0].startswith(f"{tmp_path / 'fraud.yaml'}:2:12: reference: {tmp_path / 'ref.json'}")
    assert "not valid JSON" in msgs[0]
    assert msgs[1].startswith(f"{tmp_path / 'search.yaml'}:2:12: reference:")
    assert "no such file" in msgs[1]


def test_a_window_without_a_unit_is_an_error(tmp_path):
    """`window: 30` used to mean 30 seconds; nobody writes that meaning 30 seconds."""
    (tmp_path / "r.yaml").write_text(GOOD.replace("window: 30m", "window: 30"))
    (issue,) = load_rules([tmp_path]).issues
    assert ":5:13: " in str(issue) and "expected a number with a unit" in str(issue)


def test_labels_owners_enabled_and_thresholds_are_checked(tmp_path):
    """Each of these was accepted and silently dropped, stringified or ignored."""
    text = """model: fraud
owners: oncall@example.com
labels: [team, risk]
rules:
  - name: a
    metric: latency.p99
    window: 30m
    labels: {team: {nested: x}, severity: info}
    enabled: "false"
    detector: {type: threshold, above: .nan}
  - name: b
    metric: latency.p99
    window: 30m
    detector: {type: threshold, above: 100}
"""
    (tmp_path / "r.yaml").write_text(text)
    loaded = load_rules([tmp_path])
    msgs = [str(i) for i in loaded.issues]
    expected = [
        ":3:9: labels: must be a mapping of label: value",
        ':8:20: rule 1 "a": labels: team: must be a plain value',
        ":8:43: rule 1 \"a\": labels: 'severity' is set by the engine",
        ':9:14: rule 1 "a": enabled: must be true or false',
        ":10:15: rule 1 \"a\": detector: 'above' must be a finite number",
    ]
    for e in expected:
        assert any(e in m for m in msgs), (e, msgs)
    (rule,) = loaded.rules  # b loads; one owner given as a string is one owner
    assert rule.name == "b" and rule.owners == ("oncall@example.com",)


def test_release_style_versions_can_be_named_and_numbers_must_be_quoted(tmp_path):
    rule = GOOD.replace("window: 30m", "window: 30m\n    version: VERSION")
    (tmp_path / "a.yaml").write_text(rule.replace("VERSION", "1.0.3"))
    (tmp_path / "b.yaml").write_text(
        rule.replace("VERSION", "1.10").replace("name: p99", "name: q")
    )
    loaded = load_rules([tmp_path])
    assert [r.version for r in loaded.rules] == ["1.0.3"]
    (issue,) = loaded.issues
    assert "b.yaml:6:14" in str(issue) and "quote it" in str(issue)
