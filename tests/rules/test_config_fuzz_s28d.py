"""Fuzzing the rules loader: every broken file gets ``file:line`` issues, nothing else.

A seeded mutation fuzzer (:mod:`tests.rules.yamlfuzz_s28d`) derives cases from the example
rules and the README's YAML; each must load or report issues at ``file:line:col``, never
raise, never hang, and a broken file must not lose the other files' rules. The regression
tests below are the defects it found, each failing on the code before the fix.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelhealth.rules.config import load_rules, load_rules_text
from tests.rules.yamlfuzz_s28d import BOMB, EXAMPLES, cases, check_issues, readme_yaml, within

RULES = EXAMPLES / "rules"
RULE_FILE = str(RULES / "case.yaml")  # beside the examples: their relative paths resolve
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(RULES.glob("*.yaml"))] + readme_yaml()
FRAUD = (RULES / "fraud.yaml").read_text(encoding="utf-8")


def _messages(text: str) -> list[str]:
    with within(10):
        result = load_rules_text(text, RULE_FILE)
    return [str(i) for i in result.issues]


def test_the_seeds_load_without_issues() -> None:
    """The fuzzer starts from valid configs (else it mostly tests one early error)."""
    assert len(SEEDS) >= 5
    for text in SEEDS:
        assert load_rules_text(text, RULE_FILE).issues == []


def test_mutated_rules_files_get_located_issues_and_no_exception() -> None:
    failures = []
    for i, text in enumerate(cases(SEEDS, 700, seed=28)):
        try:
            with within(5):
                result = load_rules_text(text, RULE_FILE)
        except Exception as exc:
            failures.append(f"case {i}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        failures += [f"case {i}: {bad}" for bad in check_issues(result.issues, RULE_FILE, text)]
    assert failures == []


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """A copy of the example rules with their references and contract."""
    for sub in ("rules", "references", "contracts"):
        shutil.copytree(EXAMPLES / sub, tmp_path / sub)
    return tmp_path


def test_a_broken_file_keeps_the_other_files_rules(fleet: Path) -> None:
    good = load_rules([fleet / "rules"])
    assert good.issues == [] and good.rules
    by_file = {p.name: len(load_rules([p]).rules) for p in (fleet / "rules").glob("*.yaml")}
    broken = fleet / "rules" / "zz_broken.yaml"
    for i, text in enumerate(cases(SEEDS, 40, seed=2808)):
        broken.write_bytes(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: not UTF-8
        with within(10):
            result = load_rules([fleet / "rules"])
        kept = {f: sum(r.source.file.endswith(f) for r in result.rules) for f in by_file}
        assert kept == by_file, f"case {i}"
        # the one issue without a line: its format is older than this test (it names the
        # line and column in its message, see test_config_qa_s22)
        located = [x for x in result.issues if "not UTF-8 text" not in x.message]
        assert check_issues(located, str(broken), text) == [], f"case {i}"


# -- regressions: each failed before the fix ------------------------------------------------


def test_an_alias_bomb_is_refused_at_its_line_instead_of_hanging() -> None:
    """Nine aliases of nine expand to 387 million values; walking them for repeated keys
    hung ``rules validate`` for good."""
    text = BOMB + "model: fraud\nrules: []\n"
    (message,) = _messages(text)
    # at the first value past the limit: f, 9**6 "lol"s
    assert message.startswith(f"{RULE_FILE}:6:4: aliases expand this value to more than")


def test_a_bomb_under_a_field_is_refused_too() -> None:
    text = BOMB.replace("a: &a", "x-a: &a") + "model: fraud\nlabels: *i\nrules: []\n"
    (message,) = _messages(text)
    assert "billion laughs" in message and message.startswith(f"{RULE_FILE}:6:4:")


_BLOCK = "model: fraud\nrules:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(1500))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("model: fraud\nrules:\n  - name: " + "[" * 5000 + "]" * 5000, 3),
        ("model: fraud\nrules:\n  - name: " + "{a: " * 3000 + "1" + "}" * 3000, 3),
        ("model: fraud\nrules:\n  - " + "- " * 3000 + "x", 3),
        (_BLOCK, 101),
    ],
)
def test_deep_nesting_is_an_issue_not_a_recursion_error(text: str, line: int) -> None:
    """Was ``RecursionError: maximum recursion depth exceeded`` from PyYAML's composer."""
    (message,) = _messages(text)
    assert message.startswith(f"{RULE_FILE}:{line}:")
    assert "nested more than 100 levels deep" in message


def test_a_hundred_thousand_brackets_are_refused_fast() -> None:
    """PyYAML's scanner rechecks every open bracket at each token: quadratic."""
    with within(3):
        (message,) = _messages("rules: " + "[" * 100_000)
    assert "nested more than 100 levels" in message


def test_a_control_character_is_located() -> None:
    """Was ``file: YAML error: unacceptable character #x0007`` without a line."""
    (message,) = _messages("model: fraud\nrules:\n  - name: a\x07b\n")
    assert message.startswith(f"{RULE_FILE}:3:12: the character U+0007 is not allowed in YAML")


def test_an_impossible_timestamp_tag_is_a_field_issue() -> None:
    """``!!timestamp nope`` raised AttributeError ('NoneType' has no 'groupdict') from
    PyYAML, which stopped the whole file."""
    text = FRAUD.replace("window: 30m", "window: !!timestamp nope", 1)
    messages = _messages(text)
    assert len(messages) == 1
    assert (
        "window: 'nope' is not a valid date/time: expected a date like 2026-01-01" in (messages[0])
    )


def test_a_python_tag_on_a_mapping_is_refused() -> None:
    """The tag was dropped and the mapping read as labels: the rule loaded."""
    text = FRAUD.replace(
        "labels: {team: risk}", "labels: !!python/object/apply:os.system {team: risk}"
    )
    messages = _messages(text)
    assert messages and all("labels" in m for m in messages)
    assert "the tag !!python/object/apply:os.system is not allowed" in messages[0]


def test_a_reference_path_too_long_for_the_file_system() -> None:
    """Was ``OSError: [Errno 36] File name too long`` from ``Path.exists``."""
    text = FRAUD.replace("../references/fraud.json", "x" * 5000, 1)
    (message,) = _messages(text)
    assert message.startswith(f"{RULE_FILE}:6:12: reference: ")
    assert "cannot be read (File name too long)" in message


def test_rules_validate_refuses_a_bomb_and_keeps_going(fleet: Path) -> None:
    good = len(load_rules([fleet / "rules"]).rules)
    (fleet / "rules" / "bomb.yaml").write_text(BOMB + "model: fraud\nrules: []\n")
    (fleet / "rules" / "deep.yaml").write_text("model: fraud\nrules: " + "[" * 5000 + "\n")
    cli = Path(sys.executable).with_name("modelhealth")
    done = subprocess.run(
        [str(cli), "rules", "validate", str(fleet / "rules")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=fleet,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    out = done.stderr + done.stdout
    assert f"{fleet / 'rules' / 'bomb.yaml'}:6:4: aliases expand" in out
    assert f"{fleet / 'rules' / 'deep.yaml'}:2:" in out
    assert f"{good} rule(s) in 6 file(s); 2 error(s)" in out


def _with_reference(fleet: Path, text: str) -> list[str]:
    (fleet / "references" / "fraud.json").write_text(text, encoding="utf-8")
    with within(10):
        result = load_rules([fleet / "rules" / "fraud.yaml"])
    return [str(i) for i in result.issues]


def test_a_reference_nested_too_deeply_is_an_issue(fleet: Path) -> None:
    """json's decoder recursed: RecursionError out of ``load_rules_text``, which lost
    every rule of the file as "cannot load: RecursionError" without a line."""
    (message,) = _with_reference(fleet, "[" * 100_000)
    assert message.startswith(f"{fleet / 'rules' / 'fraud.yaml'}:6:12: reference: ")
    assert message.endswith("fraud.json: is not a reference profile (JSON nested too deeply)")


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('"x"', "feature 'amount': edges must be a list of finite numbers"),
        ("null", "feature 'amount': edges must be a list of finite numbers"),
        ("NaN", "feature 'amount': edges must be a list of finite numbers"),
        ("1e400", "feature 'amount': edges must be a list of finite numbers"),
        ("0.5", "feature 'amount': edges must increase strictly"),
    ],
)
def test_a_reference_bin_edge_that_is_no_number_is_an_issue(
    fleet: Path, bad: str, says: str
) -> None:
    """Such a profile loaded, and every window binned against it raised a numpy error."""
    import json

    raw = json.loads((EXAMPLES / "references" / "fraud.json").read_text(encoding="utf-8"))
    text = json.dumps(raw).replace(json.dumps(raw["features"][0]["edges"][1]), bad, 1)
    (message,) = _with_reference(fleet, text)
    assert message.startswith(f"{fleet / 'rules' / 'fraud.yaml'}:6:12: reference: ")
    assert message.endswith(f"fraud.json: is not a reference profile (ValueError: {says})")
