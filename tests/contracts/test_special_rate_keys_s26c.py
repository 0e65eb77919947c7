"""A contract's ``special_rates`` keys must be values something counts as special.

A stored window's null-rate baseline is the column's null rate plus every special rate, but
the SDK counts as special only NaN, ±inf, the contract's ``special_values`` and, in a
categorical column, the empty string. A hand-written ``'0': 0.4`` ("40% zeros are fine")
raised that baseline by 0.4: a window 40% null read healthy. Such a key is an error at its
line, naming its column, and only that column goes unchecked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modelhealth.contracts import DataContract, build_contract
from modelhealth.contracts.cli import contract_main
from modelhealth.errors import ConfigError


def _train(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"amount": rng.lognormal(3, 1, n), "plan": rng.choice(["basic", "pro", "max"], n)}
    )


def _edited(tmp_path: Path, column: int, key: object, rate: float) -> Path:
    """The training contract with ``special_rates[key] = rate`` added by hand to a column."""
    raw = build_contract("m", _train()).to_dict()
    raw["columns"][column]["special_rates"][key] = rate
    path = tmp_path / "m.contract.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_numeric_key_outside_special_values_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, 0, "0", 0.4)
    with pytest.raises(ConfigError) as err:
        DataContract.load(path)
    (issue,) = err.value.issues
    assert issue.pos.line == _line_of(path, "'0': 0.4")
    text = str(issue)
    assert "column amount" in text and "columns.0.special_rates.0" in text
    assert "not in special_values [-1, -999999]" in text


def test_a_categorical_key_other_than_empty_is_an_error(tmp_path: Path) -> None:
    path = _edited(tmp_path, 1, "n/a", 0.3)
    with pytest.raises(ConfigError) as err:
        DataContract.load(path)
    (issue,) = err.value.issues
    assert issue.pos.line == _line_of(path, "n/a: 0.3")
    assert "column plan" in str(issue) and "special value is 'empty'" in str(issue)


def test_listed_sentinels_and_inf_are_still_accepted(tmp_path: Path) -> None:
    path = _edited(tmp_path, 0, "inf", 0.01)
    contract = DataContract.load(path)
    assert contract.columns["amount"].special_rates["inf"] == 0.01
    unquoted = tmp_path / "unquoted.yaml"  # `-1: 0.02`, a YAML int key, names the sentinel too
    unquoted.write_text(path.read_text().replace("'-1': 0.0", "-1: 0.02", 1))
    assert DataContract.load(unquoted).columns["amount"].special_rates[-1] == 0.02


def test_the_rest_of_the_contract_is_still_checked_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edited(tmp_path, 1, "n/a", 0.3)
    batch = tmp_path / "batch.csv"
    _train().assign(amount=-5.0).to_csv(batch, index=False)  # every amount out of range
    code = contract_main(["validate", str(path), "--data", str(batch)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:{_line_of(path, 'n/a: 0.3')}:" in err and "column plan" in err
    assert "out_of_range     amount" in out  # the good column was checked
