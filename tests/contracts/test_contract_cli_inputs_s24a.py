"""The inputs a user gets wrong next to the README's ``modelhealth contract`` commands: a
custom checks module that does not load, a header-only reference or batch, a misspelt
``kind:``. Each is one ``error:`` line (or one critical check) naming what to fix, never a
Python traceback or a cascade of unrelated errors."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from modelhealth.contracts import build_contract
from modelhealth.contracts.cli import EXIT_CRITICAL, EXIT_INPUT, contract_main


@pytest.fixture()
def contract(tmp_path: Path) -> Path:
    """A contract of two columns, and a healthy batch beside it as ``batch.csv``."""
    frame = pd.DataFrame({"amount": [float(i) for i in range(200)], "country": ["DE", "FR"] * 100})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.head(50).to_csv(tmp_path / "batch.csv", index=False)
    out = tmp_path / "fraud.contract.yaml"
    args = ["create", "--reference", str(tmp_path / "train.csv"), "--model", "fraud"]
    assert contract_main([*args, "--out", str(out)], io.StringIO()) == 0
    return out


def _validate(contract: Path, *extra: str) -> int:
    batch = contract.parent / "batch.csv"
    return contract_main(["validate", str(contract), "--data", str(batch), *extra], io.StringIO())


def test_a_checks_file_with_a_syntax_error_names_its_line(
    contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = contract.parent / "mychecks.py"
    checks.write_text("CHECKS = {}\ndef (\n")
    capsys.readouterr()
    assert _validate(contract, "--checks", str(checks)) == EXIT_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: custom checks {checks}: loading it failed: {checks}:2: ")
    assert "SyntaxError" in line


def test_a_checks_module_that_raises_on_import_names_the_error(
    contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = contract.parent / "nameerror_checks.py"
    checks.write_text("CHECKS = {}\nlimit = undefined_name\n")
    capsys.readouterr()
    assert _validate(contract, "--checks", str(checks)) == EXIT_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert f"{checks}:2: NameError: name 'undefined_name' is not defined" in line


def test_an_unknown_checks_module_says_what_is_looked_for(
    contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert _validate(contract, "--checks", "no_such_checks_module_s24") == EXIT_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert "custom checks module 'no_such_checks_module_s24' not found" in line
    assert ".py file" in line


def test_a_header_only_reference_makes_no_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = tmp_path / "train.csv"
    ref.write_text("amount,country\n")
    out = tmp_path / "c.yaml"
    args = ["create", "--reference", str(ref), "--model", "fraud", "--out", str(out)]
    assert contract_main(args, io.StringIO()) == EXIT_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {ref}: no rows to profile (2 columns, 0 rows)")
    assert not out.exists()
    with pytest.raises(ValueError, match="the reference has no rows"):
        build_contract("fraud", pd.DataFrame({"amount": pd.Series([], dtype=float)}))


def test_a_header_only_batch_is_one_critical_check_not_dtype_changes(
    contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (contract.parent / "batch.csv").write_text("amount,country\n")
    out = io.StringIO()
    batch = str(contract.parent / "batch.csv")
    assert contract_main(["validate", str(contract), "--data", batch], out) == EXIT_CRITICAL
    lines = out.getvalue().splitlines()
    assert "critical rows" in lines[1] and "the batch has no rows" in lines[1]
    assert "dtype" not in out.getvalue()
    assert lines[-1] == "  0 of 1 checks healthy"


def test_a_misspelt_kind_is_one_error_with_a_suggestion(
    contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = contract.read_text()
    contract.write_text(text.replace("kind: numeric", "kind: numerc", 1))
    capsys.readouterr()
    assert _validate(contract) == EXIT_INPUT
    errors = [x for x in capsys.readouterr().err.splitlines() if "contract error(s)" not in x]
    (line,) = errors  # not also "N counts for 1 bins" of the same column
    assert "columns.0.kind: kind must be 'numeric' or 'categorical', got str" in line
    assert "(did you mean 'numeric'?)" in line
