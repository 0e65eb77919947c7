"""Data-contract checks as rule metrics: ``contract.status`` and ``contract.<check>``.

A rules file names its model's contract once (``contract: contracts/fraud.contract.yaml``);
every ``contract.*`` rule of the file then judges the checks of
:func:`modelhealth.contracts.validate_stats` over its window:

* ``contract.status`` — per feature, the worst status over that feature's checks
  (0 healthy, 1 warning, 2 critical), so ``{type: threshold, above: 1.5}`` means "any check
  critical". Its ``check`` label is ``all`` — a stable identity, so a feature whose failing
  check changes mid-incident keeps one alert and one ``for:`` timer; the failing checks, their
  values and thresholds are in the ``contract`` annotation.
* ``contract.<check>`` (``null_rate``, ``psi``, …) — per feature, the check's measured value,
  labelled ``check=<check>``, for an owner who wants their own threshold.

The report is computed from the window's ``summary`` and ``hist`` frames the engine already
shares between rules (one fleet-wide query each), once per (model, contract, window, version)
per tick — however many contract rules ask. There is no per-bucket history: detectors that
need a lookback are rejected for contract metrics when the config loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.contracts import DataContract, Status, validate_stats
from modelhealth.errors import ConfigError, ConfigIssue
from modelhealth.rules.frames import FrameKey, FrameSource
from modelhealth.rules.metrics import CONTRACT_PREFIX, CONTRACT_STATUS, TABLE_CHECKS
from modelhealth.rules.yamlnodes import Node
from modelhealth.types import Series

_REPORT_COLUMNS = ["feature", "check", "value", "status", "threshold", "message"]


def load_contract(path: str | Path, model: str) -> DataContract:
    """Read a contract for ``model``; raises OSError, ConfigError or ValueError with the cause."""
    contract = DataContract.load(path)
    if contract.model != model:
        raise ValueError(f"the contract is for model {contract.model!r}, not {model!r}")
    return contract


def file_contract(
    node: Node | None, file: str, model: str
) -> tuple[str | None, DataContract | None, ConfigIssue | None]:
    """A rules file's ``contract:`` (path relative to the file), loaded once for all its rules.

    Returns ``(path, contract, issue)``. A missing or invalid contract is ONE issue at the
    ``contract:`` line (naming the contract file's own line for parse errors); the file's
    other rules still load and its ``contract.*`` rules are skipped."""
    if node is None:
        return None, None, None
    if not isinstance(node.value, str) or not node.value:
        return (
            "",
            None,
            ConfigIssue(node.pos, "must be a path to a .yaml/.json contract", "contract"),
        )
    path = str(Path(file).parent / node.value)
    try:
        return path, load_contract(path, model), None
    except OSError as exc:
        message = f"cannot read contract {path}: {exc.strerror or exc}"
    except ConfigError as exc:
        shown = "; ".join(str(i) for i in exc.issues[:3])
        more = f" (+{len(exc.issues) - 3} more)" if len(exc.issues) > 3 else ""
        message = f"invalid contract {path}: {shown}{more}"
    except (ValueError, TypeError) as exc:
        message = f"invalid contract {path}: {exc}"
    return path, None, ConfigIssue(node.pos, message, "contract")


def report_rows(contract: DataContract, summary: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """``[version] feature check value status threshold message`` for one window.

    Frames grouped by version (``group_by: [version]``) are validated once per version."""
    if "version" not in summary.columns:
        return _rows(contract, summary, hist)
    parts = []
    hist_by_version = dict(iter(hist.groupby("version", sort=False))) if len(hist) else {}
    for version, part in summary.groupby("version", sort=True):
        h = hist_by_version.get(version, hist.iloc[0:0])
        parts.append(_rows(contract, part, h).assign(version=str(version)))
    if not parts:
        return pd.DataFrame(columns=["version", *_REPORT_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def _rows(contract: DataContract, summary: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:  # no traffic in the window: no verdict (not "every column missing")
        return pd.DataFrame(columns=_REPORT_COLUMNS)
    report = validate_stats(contract, summary, hist)
    return pd.DataFrame(
        [
            (r.column, r.check, r.value, int(r.status), r.threshold, r.message)
            for r in report.results
        ],
        columns=_REPORT_COLUMNS,
    )


def window_report(
    model: str,
    contract: DataContract,
    contract_key: str,
    current: FrameKey,
    companion: FrameKey,
    source: FrameSource,
) -> pd.DataFrame:
    """The window's report rows, computed once per tick and shared by every contract rule."""
    memo_key = ("contract", model, contract_key, current, companion)
    rows = source.memo.get(memo_key)
    if rows is None:
        rows = report_rows(contract, source.get(current, model), source.get(companion, model))
        source.memo[memo_key] = rows
    return rows


def contract_instances(
    rule: Any, current: FrameKey, companion: FrameKey, source: FrameSource
) -> list[Any]:
    """Every instance of a ``contract.*`` rule in the current window (no history)."""
    from modelhealth.rules.series import Instance  # series imports this module

    contract = getattr(rule, "contract", None)
    if contract is None:
        raise LookupError(
            f"{rule.metric} needs the model's data contract: add 'contract: PATH' to the "
            f"config file of model {rule.model!r}"
        )
    key = str(getattr(rule, "contract_path", None) or id(contract))
    rows = window_report(rule.model, contract, key, current, companion, source)
    ts = np.array([current.start_ms // 1000])
    out = []
    for labels, value, note in _values(rule.metric, rows):  # every feature: series filters
        full = {"model": rule.model, **labels}
        if rule.version is not None:
            full.setdefault("version", rule.version)
        out.append(Instance(full, Series(ts, np.array([value])), annotations={"contract": note}))
    return out


def _values(metric: str, rows: pd.DataFrame) -> list[tuple[dict[str, str], float, str]]:
    """(labels, value, annotation) per instance of ``metric`` from the report rows."""
    keys = ["version"] if "version" in rows.columns else []
    if metric == CONTRACT_STATUS:
        per_feature = rows[rows["feature"] != ""]
        out = []
        for group, part in per_feature.groupby([*keys, "feature"], sort=True):
            labels = dict(zip([*keys, "feature"], map(str, group), strict=True))
            worst = int(part["status"].max())
            out.append(({**labels, "check": "all"}, float(worst), _failing(part)))
        return out
    check = metric.removeprefix(CONTRACT_PREFIX)
    part = rows[rows["check"] == check]
    out = []
    for row in part.itertuples(index=False):
        value = float(row.value)
        if not np.isfinite(value):
            continue  # e.g. PSI of a window without valid values: no data, no verdict
        labels = {k: str(getattr(row, k)) for k in keys}
        if check not in TABLE_CHECKS:
            labels["feature"] = str(row.feature)
        labels["check"] = check
        out.append((labels, value, _describe(row)))
    return out


def _failing(part: pd.DataFrame) -> str:
    bad = part[part["status"] > 0].sort_values(["status", "check"], ascending=[False, True])
    if bad.empty:
        return "all checks healthy"
    return "; ".join(_describe(r) for r in bad.itertuples(index=False))


def _describe(row: Any) -> str:
    status = str(Status(int(row.status)))
    bound = "" if row.threshold is None or pd.isna(row.threshold) else f" > {row.threshold:.4g}"
    value = "n/a" if pd.isna(row.value) else f"{row.value:.4g}"
    text = f"{row.check}={value} ({status}{bound if row.status else ''})"
    return f"{text} {row.message}".rstrip() if row.message and row.status else text
