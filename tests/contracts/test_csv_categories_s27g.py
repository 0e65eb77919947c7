"""A category that looks like a number is a category, in a CSV batch as in a DataFrame.

``read_csv`` types a column by its cells, per file: a batch whose ``plan`` cells (training
values "A", "B", "C") were all ``7`` read as ``int64``, and ``contract validate`` reported a
critical dtype change instead of the unseen category it is; with one blank it was "7.0",
unseen even where training had "7". Read with the contract, a text column is read as text.
A number column that arrives as text ("1.5" from JSON) is still the dtype problem it is.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.contracts import (
    DataContract,
    Status,
    build_contract,
    validate_frame,
)
from modelhealth.contracts.cli import contract_main
from modelhealth.contracts.contract import read_table

N = 300


def _contract(tmp_path: Path, plans: list[str]) -> Path:
    """A contract made by ``contract create`` from a CSV of ``plan`` (``plans``) and ``x``."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"plan": rng.choice(plans, N), "x": rng.normal(size=N)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "m.contract.json"
    argv = ["create", "--reference", str(tmp_path / "train.csv"), "--model", "m"]
    assert contract_main([*argv, "--out", str(out)], io.StringIO()) == 0
    return out


def _validate(contract: Path, batch: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    """``contract validate --json``: the exit code and the ``plan`` checks (status, message)."""
    out = io.StringIO()
    code = contract_main(["validate", str(contract), "--data", str(batch), "--json"], out)
    results = json.loads(out.getvalue())["results"]
    plan = {r["check"]: (r["status"], r["message"]) for r in results if r["column"] == "plan"}
    return code, plan


def _batch(tmp_path: Path, cells: list[str]) -> Path:
    path = tmp_path / "batch.csv"
    path.write_text("plan,x\n" + "".join(f"{c},0.5\n" for c in cells))
    return path


def test_an_all_digit_category_batch_is_out_of_domain_not_a_type_change(tmp_path: Path) -> None:
    """It read ``dtype int64, contract object (text values)``, critical, before."""
    contract = _contract(tmp_path, ["A", "B", "C"])
    code, plan = _validate(contract, _batch(tmp_path, ["7"] * 120))
    assert plan["dtype"][0] == "healthy", plan["dtype"]
    assert plan["out_of_domain"] == ("critical", "unseen e.g. 7")
    assert code == 2  # for the unseen category, not for a type


def test_a_digit_category_beside_a_blank_stays_7_not_7_0(tmp_path: Path) -> None:
    """With a blank the column read as float64: "7.0" was unseen though training had "7",
    and the type change was critical; the batch holds training's own categories (only their
    shares changed, which PSI reports)."""
    contract = _contract(tmp_path, ["A", "B", "7"])
    code, plan = _validate(contract, _batch(tmp_path, ["7"] * 119 + [""]))
    assert plan["dtype"][0] == "healthy", plan["dtype"]
    assert plan["out_of_domain"][0] == "healthy", plan["out_of_domain"]
    assert code == 2 and plan["psi"][0] == "critical"  # all "7" where training had a third


def test_a_digit_category_in_a_text_batch_column_was_and_is_out_of_domain() -> None:
    """Already right before (and kept): a string "7" among text in an ``object`` column is
    typed as text by its values, so it is an unseen category, not a number."""
    rng = np.random.default_rng(1)
    contract = build_contract("m", pd.DataFrame({"plan": rng.choice(["A", "B", "C"], N)}))
    batch = pd.DataFrame({"plan": ["A"] * 99 + ["7"]})
    checks = {r.check: r for r in validate_frame(contract, batch).results}
    assert checks["dtype"].status == Status.HEALTHY
    assert checks["out_of_domain"].message == "unseen e.g. 7"


def test_numbers_as_text_in_a_number_column_are_still_a_type_change(tmp_path: Path) -> None:
    """Kept: a number column read as strings ("1.5" from JSON records) is critical (the
    values' type changed); in a CSV the cells are read as the numbers they are."""
    contract_path = _contract(tmp_path, ["A", "B", "C"])
    contract = DataContract.load(contract_path)
    batch = pd.DataFrame({"plan": ["A"] * 100, "x": ["1.5"] * 100})
    (dtype,) = [
        r for r in validate_frame(contract, batch).results if r.check == "dtype" and r.column == "x"
    ]
    assert dtype.status == Status.CRITICAL
    assert dtype.message == "dtype object holding text values, contract float64"
    path = tmp_path / "quoted.csv"
    path.write_text("plan,x\n" + 'A,"1.5"\n' * 100)
    assert str(read_table(path, contract)["x"].dtype) == "float64"
