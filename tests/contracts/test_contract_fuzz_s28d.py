"""Fuzzing the contract loader: a broken contract is issues at ``file:line``, nothing else.

Cases come from the example contract through the seeded mutation fuzzer of
:mod:`tests.rules.yamlfuzz_s28d`; the regression tests are the defects it found, each
failing on the code before the fix.
"""

from __future__ import annotations

import pytest

from modelhealth.contracts.parse import parse_contract_partial
from modelhealth.errors import ConfigError, ConfigIssue
from tests.rules.yamlfuzz_s28d import BOMB, EXAMPLES, cases, check_issues, within

CONTRACT = (EXAMPLES / "contracts" / "fraud.contract.yaml").read_text(encoding="utf-8")
FILE = "fraud.contract.yaml"
SMALL = "model: fraud\ncolumns:\n- {name: amount, dtype: float64, kind: numeric, edges: [1.0]}\n"


def _issues(text: str) -> list[ConfigIssue]:
    """The issues of a contract: those of a partial load, or of its ConfigError."""
    try:
        with within(10):
            return parse_contract_partial(text, FILE)[1]
    except ConfigError as exc:
        return exc.issues


def _messages(text: str) -> list[str]:
    return [str(i) for i in _issues(text)]


def test_the_seeds_load() -> None:
    assert parse_contract_partial(CONTRACT, FILE)[1] == []
    assert parse_contract_partial(SMALL, FILE)[1] == []


def test_mutated_contracts_get_located_issues_and_no_exception() -> None:
    failures = []
    for i, text in enumerate(cases([CONTRACT, SMALL], 500, seed=28)):
        try:
            issues = _issues(text)
        except Exception as exc:
            failures.append(f"case {i}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        failures += [f"case {i}: {bad}" for bad in check_issues(issues, FILE, text)]
    assert failures == []


# -- regressions: each failed before the fix ------------------------------------------------


def test_an_alias_bomb_is_refused_instead_of_hanging() -> None:
    """Listing every key path's position walked 387 million expanded values."""
    (message,) = _messages(BOMB.replace("a: &a", "x-a: &a") + SMALL)
    assert message.startswith(f"{FILE}:6:4: aliases expand this value to more than")


def test_deep_nesting_is_an_issue_not_a_recursion_error() -> None:
    (message,) = _messages(SMALL + "created_from: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message.startswith(f"{FILE}:4:")
    assert "nested more than 100 levels deep" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("null_rate", "10" + "0" * 400),
        ("min", "-1" + "0" * 400),
        ("counts", "[1, 1" + "0" * 400 + "]"),
    ],
)
def test_a_number_no_float_holds_is_an_issue(field: str, value: str) -> None:
    """``10**400`` reached ``np.isfinite``: TypeError, ufunc 'isfinite' not supported."""
    text = SMALL.replace("edges: [1.0]", f"edges: [1.0], {field}: {value}")
    contract, issues = parse_contract_partial(text, FILE)
    (message,) = [str(i) for i in issues]
    assert message.startswith(f"{FILE}:3:") and "column amount" in message
    assert "expected a" in message and ("got int 1" in message or "got int -1" in message)
    assert contract.skipped == ("amount",)


def test_a_huge_threshold_is_an_issue() -> None:
    """``float(10**400)``: OverflowError."""
    message = _messages(SMALL + "thresholds: {psi: [0.1, 1" + "0" * 400 + "]}\n")
    assert len(message) == 1
    assert message[0].startswith(f"{FILE}:4:14: thresholds.psi: expected [warning, critical]")


@pytest.mark.parametrize("column", ["[amount]", "{a: 1}"])
def test_a_custom_check_column_that_is_no_name(column: str) -> None:
    """A list or mapping as the column: TypeError, unhashable type, from the lookup."""
    text = SMALL + f"custom:\n- {{check: neg_share, column: {column}}}\n"
    messages = _messages(text)
    assert len(messages) == 1
    assert messages[0].startswith(f"{FILE}:5:") and "expected a column name" in messages[0]


def test_a_column_name_that_is_a_mapping() -> None:
    """Collecting the column names raised TypeError: unhashable type: 'dict'."""
    text = SMALL + "- {name: {a: 1}, dtype: float64, kind: numeric, edges: [1.0]}\n"
    messages = _messages(text)
    assert messages and all(m.startswith(f"{FILE}:4:") for m in messages)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("!!timestamp nope", "'nope' is not a valid timestamp"),
        ("!!int 1.5", "'1.5' is not a valid int"),
        ("!!float abc", "'abc' is not a valid float"),
        ("2026-02-30", "'2026-02-30' is not a valid timestamp"),
        ("!!python/object/apply:os.system ['echo pwned']", "the safe loader builds no Python"),
    ],
)
def test_a_value_yaml_cannot_read_is_located(value: str, says: str) -> None:
    """PyYAML's own AttributeError/ValueError escaped the loader as a traceback."""
    (message,) = _messages(SMALL + f"created_from: {value}\n")
    assert message.startswith(f"{FILE}:4:15: cannot read this value: ")
    assert says in message


def test_an_empty_contract_names_its_first_line() -> None:
    (message,) = _messages("# to do\n")
    assert message.startswith(f"{FILE}:1:1: expected a mapping with model and columns")
