"""A contract file that cannot be read is an error naming it and what was expected, not a
bare ``[Errno 2] No such file or directory`` or ``[Errno 21] Is a directory``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from modelhealth.contracts.cli import EXIT_INPUT, contract_main


def _validate(contract: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    batch = tmp_path / "batch.csv"
    batch.write_text("a\n1\n")
    code = contract_main(["validate", str(contract), "--data", str(batch)], io.StringIO())
    assert code == EXIT_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    return line


def test_a_missing_contract_file_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _validate(tmp_path / "fraud.contract.yaml", tmp_path, capsys)
    assert line.startswith(f"error: {tmp_path / 'fraud.contract.yaml'}: no such contract file")
    assert "modelhealth contract create" in line and "Errno" not in line


def test_a_folder_given_as_the_contract_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _validate(tmp_path, tmp_path, capsys)
    assert line == f"error: {tmp_path}: is a folder; expected a contract file (.yaml or .json)"


def test_a_byte_that_is_not_utf8_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"model: m\ncolumns:\n  a: {kind: numeric \xff}\n")
    line = _validate(path, tmp_path, capsys)
    assert line.startswith(f"error: {path}:3:21: byte 0xff is not UTF-8"), line
