"""ISO dates in a CSV file are read as datetimes, the reference's and a batch's alike.

``read_csv`` leaves a date column as text, so a contract built from a CSV reference
profiled its ``day`` column as categories of the training dates, and every later batch read
critical: its new dates "outside the domain" and PSI far beyond any bound, day after day,
though dates moving on is no drift. A Parquet reference keeps the dtype and already got the
datetime treatment (type and null checks only); a CSV one must get the same. Strictly:
numbers, compact dates and a column of dates with junk in it stay what they were.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.contracts import Status, build_contract, validate_frame
from modelhealth.contracts.cli import contract_main
from modelhealth.contracts.contract import read_table
from modelhealth.contracts.report import ContractReport

NOTE = "not judged: a date/time column (its values move on with time)"


def _write(path: Path, start: str, days: int, n: int, fmt: str = "%Y-%m-%d") -> Path:
    """``n`` rows of a ``day`` column (``days`` dates from ``start``) and a number ``x``."""
    rng = np.random.default_rng(days + n)
    dates = pd.date_range(start, periods=days, freq="D").strftime(fmt)
    pd.DataFrame({"day": rng.choice(dates, n), "x": rng.normal(size=n)}).to_csv(path, index=False)
    return path


def _day(report: ContractReport) -> dict[str, tuple[Status, str]]:
    return {r.check: (r.status, r.message) for r in report.results if r.column == "day"}


@pytest.mark.parametrize(
    ("fmt", "dtype"),
    [
        ("%Y-%m-%d", "datetime64[ns]"),
        ("%Y-%m-%dT%H:%M:%S", "datetime64[ns]"),
        ("%Y-%m-%d %H:%M:%S.123+02:00", "datetime64[ns, UTC]"),
        ("%Y-%m-%dT%H:%MZ", "datetime64[ns, UTC]"),
    ],
)
def test_a_csv_reference_date_column_is_a_time_column(tmp_path: Path, fmt: str, dtype: str) -> None:
    """The contract's ``day`` is a datetime without a domain, and a batch of new dates is
    healthy: no out_of_domain check, PSI not judged (it was critical on both before)."""
    ref = read_table(_write(tmp_path / "train.csv", "2026-01-01", 30, 3000, fmt))
    contract = build_contract("m", ref)
    day = contract.columns["day"]
    assert (day.dtype, day.domain) == (dtype, ())
    batch = read_table(_write(tmp_path / "batch.csv", "2026-02-01", 3, 500, fmt))
    report = validate_frame(contract, batch)
    checks = _day(report)
    assert "out_of_domain" not in checks
    assert checks["psi"] == (Status.HEALTHY, NOTE)
    assert checks["dtype"][0] == Status.HEALTHY
    assert report.status != Status.CRITICAL


def test_contract_cli_create_then_validate_new_dates_exits_0(tmp_path: Path) -> None:
    """The user's path end to end: ``contract create`` from a CSV, ``validate`` a CSV batch
    of later dates. It exited 2 (every date out of the domain) before."""
    _write(tmp_path / "train.csv", "2026-01-01", 30, 3000)
    _write(tmp_path / "batch.csv", "2026-03-01", 5, 500)
    out = tmp_path / "m.contract.yaml"
    argv = ["create", "--reference", str(tmp_path / "train.csv"), "--model", "m"]
    assert contract_main([*argv, "--out", str(out)], io.StringIO()) == 0
    text = out.read_text()
    assert "dtype: datetime64[ns]" in text
    report = io.StringIO()
    argv = ["validate", str(out), "--data", str(tmp_path / "batch.csv"), "--json"]
    assert contract_main(argv, report) == 0, report.getvalue()
    assert "out_of_domain" not in report.getvalue()


@pytest.mark.parametrize(
    "cells",
    [
        ["2026-01-01", "2026-01-02", "junk"],  # dates with junk: flagged as text, as before
        ["20260101", "20260102", "20260103"],  # compact numbers: no ISO date
        ["2026-01-01", "2026-02-30", "2026-01-03"],  # no such day
        ["2026-01-01T10:00Z", "2026-01-02T10:00", "2026-01-03"],  # zoned and naive mixed
        ["1.5", "2", "3"],
    ],
)
def test_what_is_not_all_iso_dates_is_read_as_before(tmp_path: Path, cells: list[str]) -> None:
    """Strict: a column is read as dates only when every cell is one."""
    path = tmp_path / "t.csv"
    path.write_text("v\n" + "\n".join(cells) + "\n")
    assert read_table(path)["v"].dtype == pd.read_csv(path)["v"].dtype


def test_blanks_among_dates_are_nulls_of_a_date_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("day,x\n2026-01-01,1\n,2\n2026-01-03,3\n")
    day = read_table(path)["day"]
    assert str(day.dtype) == "datetime64[ns]" and int(day.isna().sum()) == 1


def test_a_contract_that_holds_dates_as_text_reads_its_batches_as_text(tmp_path: Path) -> None:
    """A contract made before from a CSV (``day`` as text categories) is not broken now:
    given the contract, the batch's ``day`` is read as text as it was, so dates within its
    domain stay healthy instead of turning into a critical change to datetime."""
    train = _write(tmp_path / "train.csv", "2026-01-01", 30, 3000)
    contract = build_contract("m", pd.read_csv(train))  # as read_table read it before
    assert contract.columns["day"].dtype == "object" and contract.columns["day"].domain
    batch = _write(tmp_path / "batch.csv", "2026-01-01", 30, 500)
    checks = _day(validate_frame(contract, read_table(batch, contract)))
    assert checks["dtype"][0] == Status.HEALTHY
    assert checks["out_of_domain"][0] == Status.HEALTHY
