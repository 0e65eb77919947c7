"""``contract validate --json`` prints strict JSON, whatever a custom check returns.

A custom check may return ``inf`` (a ratio over an empty denominator); the report printed
``"value": Infinity``, which is no JSON: ``jq`` and ``JSON.parse`` refused the whole report
in the CI step that gates on it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.contracts import build_contract
from modelhealth.contracts.cli import contract_main


def _no_constants(name: str) -> float:
    raise ValueError(f"not strict JSON: {name}")


def test_an_infinite_custom_value_keeps_the_report_strict_json(tmp_path: Path) -> None:
    frame = pd.DataFrame({"amount": np.random.default_rng(0).normal(size=200)})
    contract = build_contract("m", frame).to_dict()
    contract["custom"] = [
        {"check": "ratio", "column": "amount", "warning": 1.0, "critical": 2.0},
        {"check": "floor", "column": "amount", "warning": -5.0, "critical": 5.0},
    ]
    (tmp_path / "m.contract.json").write_text(json.dumps(contract))
    (tmp_path / "inf_checks.py").write_text(
        "CHECKS = {'ratio': lambda col, **kw: float('inf'), 'floor': lambda col, **kw: -1e999}\n"
    )
    frame.to_csv(tmp_path / "batch.csv", index=False)
    out = io.StringIO()
    code = contract_main(
        [
            "validate",
            str(tmp_path / "m.contract.json"),
            "--data",
            str(tmp_path / "batch.csv"),
            "--checks",
            str(tmp_path / "inf_checks.py"),
            "--json",
        ],
        out=out,
    )
    report = json.loads(out.getvalue(), parse_constant=_no_constants)
    by_check = {r["check"]: r for r in report["results"]}
    assert by_check["ratio"]["value"] == "inf" and by_check["ratio"]["status"] == "critical"
    assert by_check["floor"]["value"] == "-inf" and by_check["floor"]["status"] == "healthy"
    assert code == 2
