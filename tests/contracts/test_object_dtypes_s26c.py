"""The dtype check types an ``object`` column by its values, not by pandas' dtype name.

A bool column with one blank is ``object`` to ``read_csv``: a contract built from the
Parquet training file (``bool``) read every CSV export with a blank as a critical type change,
and a contract built from that CSV read the clean ``bool`` batch the same way, though the SDK
sees the same bools either way. A real change of the values' type must stay critical.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from modelhealth.contracts import Status, build_contract, validate_frame
from modelhealth.contracts.report import CheckResult, ContractReport


def _dtype(report: ContractReport, column: str) -> CheckResult:
    (found,) = [r for r in report.results if r.check == "dtype" and r.column == column]
    return found


def _bools(n: int = 400) -> np.ndarray:
    return np.random.default_rng(0).random(n) < 0.3


def _csv_with_a_blank(flags: np.ndarray) -> pd.DataFrame:
    """``flags`` written to CSV with the first value blank and read back, as an export is."""
    rows = [f"{i},{'' if i == 0 else bool(f)}" for i, f in enumerate(flags)]
    return pd.read_csv(io.StringIO("id,flag\n" + "\n".join(rows) + "\n"))


def test_a_csv_bool_column_with_a_blank_is_no_type_change() -> None:
    flags = _bools()
    contract = build_contract("m", pd.DataFrame({"flag": flags}))
    batch = _csv_with_a_blank(flags)
    assert str(batch["flag"].dtype) == "object"  # what pandas makes of it
    check = _dtype(validate_frame(contract, batch), "flag")
    assert check.status == Status.WARNING, check
    assert check.message == "dtype object holding bool values, contract bool"


def test_a_contract_built_from_such_a_csv_takes_a_clean_bool_batch() -> None:
    flags = _bools()
    contract = build_contract("m", _csv_with_a_blank(flags))
    assert contract.columns["flag"].dtype == "object"
    check = _dtype(validate_frame(contract, pd.DataFrame({"flag": flags})), "flag")
    assert check.status == Status.WARNING, check
    assert check.message == "dtype bool, contract object (bool or number values)"


def test_text_where_training_had_bools_is_still_critical() -> None:
    flags = _bools()
    contract = build_contract("m", pd.DataFrame({"flag": flags}))
    batch = pd.DataFrame({"flag": np.where(flags, "yes", "no")})
    check = _dtype(validate_frame(contract, batch), "flag")
    assert check.status == Status.CRITICAL
    assert check.message == "dtype object holding text values, contract bool"


def test_bools_in_a_text_column_are_critical_though_both_dtypes_are_object() -> None:
    rng = np.random.default_rng(1)
    contract = build_contract("m", pd.DataFrame({"plan": rng.choice(["basic", "pro"], 300)}))
    batch = pd.DataFrame({"plan": pd.Series(_bools(300), dtype=object)})
    check = _dtype(validate_frame(contract, batch), "plan")
    assert check.status == Status.CRITICAL, check
    assert check.message == "dtype object holding bool values, contract object (text values)"


def test_a_column_of_nulls_only_is_no_evidence_of_another_type() -> None:
    rng = np.random.default_rng(2)
    contract = build_contract("m", pd.DataFrame({"plan": rng.choice(["basic", "pro"], 300)}))
    batch = pd.read_csv(io.StringIO("plan,x\n" + ",1\n" * 300))  # an all-blank column: float64
    report = validate_frame(contract, batch)
    check = _dtype(report, "plan")
    assert check.status == Status.WARNING, check
    assert "no value to tell the type by" in check.message
    (nulls,) = [r for r in report.results if r.check == "null_rate"]
    assert nulls.status == Status.CRITICAL  # the nulls are the finding, reported once
