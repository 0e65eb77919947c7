"""The Orbit-shaped validation report: one graded result per (check, column).

report.status                # worst status over all checks
report.to_frame()            # check column status value threshold message
print(report.format_text())
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import pandas as pd


class Status(IntEnum):
    """Ordered so the report's status is the max over its checks."""

    HEALTHY = 0
    WARNING = 1
    CRITICAL = 2

    def __str__(self) -> str:
        return self.name.lower()


def grade(value: float, warning: float, critical: float) -> Status:
    """Higher is worse: strictly above ``critical`` is CRITICAL, above ``warning`` WARNING.

    >>> grade(0.3, 0.1, 0.25)
    <Status.CRITICAL: 2>
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Status.HEALTHY
    if value > critical:
        return Status.CRITICAL
    if value > warning:
        return Status.WARNING
    return Status.HEALTHY


@dataclass(frozen=True)
class CheckResult:
    """One check on one column (``column`` is ``""`` for table-level checks)."""

    check: str
    column: str
    status: Status
    value: float
    threshold: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "status": str(self.status),
            "value": None if _nan(self.value) else self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class ContractReport:
    """Every check result of one validation, with the row count and its change."""

    model: str
    contract_version: int
    rows: int
    reference_rows: int
    expected_rows: int | None = None
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def row_count_change(self) -> float:
        """rows / expected_rows - 1 (expected defaults to the reference's row count)."""
        base = self.expected_rows or self.reference_rows
        return self.rows / base - 1.0 if base else float("nan")

    @property
    def status(self) -> Status:
        return max((r.status for r in self.results), default=Status.HEALTHY)

    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status > Status.HEALTHY]

    def to_dict(self) -> dict[str, Any]:
        change = self.row_count_change
        return {
            "model": self.model,
            "contract_version": self.contract_version,
            "status": str(self.status),
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "expected_rows": self.expected_rows,
            "row_count_change": None if _nan(change) else change,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        """Strict JSON: ±inf (a custom check may return it) is written ``"inf"``/``"-inf"``,
        since ``Infinity`` is no JSON and ``jq`` or a JSON.parse refused the whole report."""
        return json.dumps(_finite(self.to_dict()), indent=1, allow_nan=False)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [r.to_dict() for r in self.results],
            columns=["check", "column", "status", "value", "threshold", "message"],
        )

    def format_text(self, all_checks: bool = False) -> str:
        """Human summary: header, then failed checks (or all) as aligned lines."""
        change = self.row_count_change
        change_text = "n/a" if _nan(change) else f"{change:+.1%}"  # 0 reference rows: no base
        lines = [
            f"model {self.model} contract v{self.contract_version}: {self.status} — "
            f"{self.rows} rows (reference {self.reference_rows}, change {change_text})",
        ]
        shown = self.results if all_checks else self.failed()
        for r in shown:
            t = "" if r.threshold is None else f" (threshold {r.threshold:g})"
            lines.append(
                f"  {r.status!s:8} {r.check:16} {r.column or '-':20} {r.value:.4g}{t}"
                + (f"  {r.message}" if r.message else "")
            )
        healthy = len(self.results) - len(self.failed())
        lines.append(f"  {healthy} of {len(self.results)} checks healthy")
        return "\n".join(lines)


def _finite(v: Any) -> Any:
    """``v`` with every ±inf float replaced by the text ``"inf"``/``"-inf"`` and NaN by None
    (see to_json)."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None if isinstance(v, float) and math.isnan(v) else v


def _nan(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
