"""Every error inside a contract's column entry names that column, and a threshold error
says what it got.

A misspelt ``kind`` or an unknown key was reported as ``columns.3.kind: ...`` alone: in a
contract of forty columns the owner counted entries to find which one. Field type errors
already said ``column country``; these now do too (``column #2`` for an entry without a name).
"""

from __future__ import annotations

import pytest

from modelhealth.contracts.contract import parse_contract
from modelhealth.errors import ConfigError

CONTRACT = """\
model: fraud
columns:
  - name: amount
    dtype: float64
    kind: numeric
    edges: [1.0, 2.0]
  - name: country
    dtype: object
    kind: category
  - name: plan
    dtype: object
    kind: categorical
    nullable: true
  - dtype: object
    kind: categorical
"""


def _issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "fraud.contract.yaml")
    return [str(i) for i in err.value.issues]


def test_a_wrong_kind_names_its_column_and_line() -> None:
    (kind,) = [i for i in _issues(CONTRACT) if "kind must be" in i]
    assert kind.startswith("fraud.contract.yaml:9:5: column country: columns.1.kind: ")
    assert "(did you mean 'categorical'?)" in kind


def test_an_unknown_key_names_its_column_and_line() -> None:
    (unknown,) = [i for i in _issues(CONTRACT) if "unknown column key" in i]
    assert unknown.startswith("fraud.contract.yaml:13:5: column plan: columns.2.nullable: ")


def test_an_entry_without_a_name_is_numbered() -> None:
    (nameless,) = [i for i in _issues(CONTRACT) if "needs name and dtype" in i]
    assert nameless.startswith("fraud.contract.yaml:14:5: column #4: columns.3: ")


def test_a_threshold_error_says_what_it_got() -> None:
    text = "model: fraud\ncolumns: []\nthresholds:\n  psi: [0.3, 0.25]\n"
    (issue,) = _issues(text)
    assert issue.startswith("fraud.contract.yaml:4:3: thresholds.psi: ")
    assert issue.endswith("warning <= critical; got [0.3, 0.25]")
