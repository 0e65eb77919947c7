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

``contract.row_count_change`` (when the contract sets ``expected_rows``) is one instance per
model, also with ``group_by: [version]`` (the rows of every version against the model's
expectation). A window without rows reads 0 rows, so a feed that stopped pages, but only
once the model was live: a model without any row in the store has no instance, and a
window that starts before its first row is not judged (see :func:`_row_count_judged`).

The report is computed from the window's ``summary`` and ``hist`` frames the engine already
shares between rules (one fleet-wide query each), once per (model, contract, window, version)
per tick — however many contract rules ask. There is no per-bucket history: detectors that
need a lookback are rejected for contract metrics when the config loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.clock import from_epoch_ms
from modelhealth.contracts import DataContract, Status, validate_stats
from modelhealth.contracts.report import grade
from modelhealth.contracts.validate import window_rows
from modelhealth.errors import ConfigError, ConfigIssue
from modelhealth.rules.frames import FrameKey, FrameSource
from modelhealth.rules.loadissues import PartialContract
from modelhealth.rules.metrics import CONTRACT_PREFIX, CONTRACT_STATUS, TABLE_CHECKS
from modelhealth.rules.yamlnodes import Node
from modelhealth.types import Series

ROW_COUNT = "row_count_change"
"""The contract check about the window's rows (``expected_rows``), not about a column."""
_REPORT_COLUMNS = ["feature", "check", "value", "status", "threshold", "message", "rows"]


def load_contract(path: str | Path, model: str) -> tuple[DataContract, list[ConfigIssue]]:
    """Read what can be read of a contract for ``model``, and the issues of the rest.

    A column (or ``custom:`` entry) with an error is left out and its issue returned, as
    ``modelhealth contract validate`` does: one mistyped ``kind`` disabled every
    ``contract.*`` rule of the model. Raises OSError, or ConfigError for what concerns
    every column (YAML syntax, ``model``, ``thresholds``, ...), or ValueError for a
    contract of another model."""
    contract, issues = DataContract.load_partial(path)
    if contract.model != model:
        raise ValueError(f"the contract is for model {contract.model!r}, not {model!r}")
    return contract, issues


def file_contract(
    node: Node | None, file: str, model: str
) -> tuple[str | None, DataContract | None, ConfigIssue | None]:
    """A rules file's ``contract:`` (path relative to the file), loaded once for all its rules.

    Returns ``(path, contract, issue)``. A missing or unreadable contract is ONE issue at the
    ``contract:`` line (naming the contract file's own line for parse errors); the file's
    other rules still load and its ``contract.*`` rules are skipped. A contract with bad
    column entries is loaded without them: its ``contract.*`` rules judge the other columns,
    and the issue (at the same line) names each bad entry and what is left out."""
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
        contract, issues = load_contract(path, model)
    except OSError as exc:
        message = f"cannot read contract {path}: {exc.strerror or exc}"
    except ConfigError as exc:
        message = f"invalid contract {path}: {_shown_issues(exc.issues)}"
    except (ValueError, TypeError) as exc:
        message = f"invalid contract {path}: {exc}"
    else:
        if not issues:
            return path, contract, None
        message = f"invalid contract {path}: {_shown_issues(issues)}; {_left_out(contract)}"
        # an error that skips no rule: the command line and a reload tell it apart
        return path, contract, PartialContract(node.pos, message, "contract")
    return path, None, ConfigIssue(node.pos, message, "contract")


_SHOWN_ISSUES = 5
"""Contract issues spelled out in the one rules-file issue; the rest are counted."""


def _shown_issues(issues: list[ConfigIssue]) -> str:
    shown = "; ".join(str(i) for i in issues[:_SHOWN_ISSUES])
    more = len(issues) - _SHOWN_ISSUES
    return f"{shown} (+{more} more)" if more > 0 else shown


def _left_out(contract: DataContract) -> str:
    """What a partly loaded contract's rules do without its bad entries, in words."""
    kept = len(contract.columns)
    if not contract.skipped:
        # custom checks run on batches only (``contract validate --data``), not on windows
        return f"the contract.* rules check all {kept} column(s)"
    names = ", ".join(contract.skipped)
    return (
        f"the contract.* rules leave out column(s) {names} until fixed and check the other "
        f"{kept} column(s)"
    )


def report_rows(contract: DataContract, summary: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """``[version] feature check value status threshold message rows`` for one window.

    Frames grouped by version (``group_by: [version]``) are validated once per version,
    except the row count: ``expected_rows`` is the model's, so it is judged once, on the
    rows of every version together (version ``""``, no version label). Judged per
    version, a canary taking 5% of the traffic read 0.95 short, critical, for as long as
    it ran; and a version retired on purpose is no stopped feed while another serves."""
    if "version" not in summary.columns:
        return _rows(contract, summary, hist)
    parts = []
    total = 0
    hist_by_version = dict(iter(hist.groupby("version", sort=False))) if len(hist) else {}
    for version, part in summary.groupby("version", sort=True):
        h = hist_by_version.get(version, hist.iloc[0:0])
        rows = _rows(contract, part, h)
        total += _window_rows(contract, part)
        parts.append(rows[~rows["check"].isin(TABLE_CHECKS)].assign(version=str(version)))
    parts.append(_row_count(contract, total).assign(version=""))
    parts = [part for part in parts if len(part)]  # concat warns of empty frames
    if not parts:
        return pd.DataFrame(columns=["version", *_REPORT_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def _rows(contract: DataContract, summary: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:
        # no traffic: no column verdicts ("every column missing" says nothing new), but the
        # row count has one, 0 of expected_rows (judged only if the model was live, see
        # _row_count_judged): without it a feed that stopped had no instance, never paged
        return _row_count(contract, 0)
    report = validate_stats(contract, summary, hist)
    return pd.DataFrame(
        [
            (r.column, r.check, r.value, int(r.status), r.threshold, r.message, report.rows)
            for r in report.results
        ],
        columns=_REPORT_COLUMNS,
    )


def _window_rows(contract: DataContract, summary: pd.DataFrame) -> int:
    """The rows of a window (one version's): the most values of any feature, contract
    column or not, as :func:`modelhealth.contracts.validate_stats` counts them."""
    return window_rows(summary)


def _row_count(contract: DataContract, rows: int) -> pd.DataFrame:
    """The ``row_count_change`` report row of a window of ``rows`` rows (none without
    ``expected_rows``), graded as :func:`modelhealth.contracts.validate_stats` grades it."""
    if not contract.expected_rows:
        return pd.DataFrame(columns=_REPORT_COLUMNS)
    change = abs(rows / contract.expected_rows - 1.0)
    warn, crit = contract.threshold(ROW_COUNT)
    status = grade(change, warn, crit)
    bound = crit if status == Status.CRITICAL else warn
    message = f"{rows} rows, expected {contract.expected_rows}"
    return pd.DataFrame(
        [("", ROW_COUNT, change, int(status), bound, message, rows)], columns=_REPORT_COLUMNS
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
    for point in _values(rule.metric, rows):  # every feature: series filters
        full = {"model": rule.model, **point.labels}
        if rule.version is not None:
            full.setdefault("version", rule.version)
        why = None
        if point.labels.get("check") == ROW_COUNT:
            live, why = _row_count_judged(rule, contract, point, current, source)
            if not live:
                continue
        value = np.array([np.nan if why else point.value])
        notes = {"contract": point.note}
        out.append(Instance(full, Series(ts, value), annotations=notes, not_judged=why))
    return out


def _row_count_judged(
    rule: Any, contract: DataContract, point: _Point, current: FrameKey, source: FrameSource
) -> tuple[bool, str | None]:
    """``(has an instance, why it is not judged)`` for the row count of a window of
    ``point.rows`` rows: a window short of ``expected_rows`` is judged only once the model
    (the version, for a rule per version or with ``version:``) was live when it started.

    A model that had data before and none in the window stopped: 0 rows where N were
    expected is critical (it had no instance, so a dead feed read as "no value"). One
    that never sent data has no instance (the tick says it has no rows in the store, as
    for any rule). One whose first data is inside the window (or after it, in a backtest)
    is not judged yet: the window holds part of a window's rows, and a new deployment
    paged "rows 90% short" for its first window, as a ``count`` baseline would."""
    if not contract.expected_rows or point.rows >= contract.expected_rows:
        return True, None
    from modelhealth.rules.series import first_data_ms  # series imports this module

    version = current.version
    if version is None and current.by_version:
        version = point.labels.get("version")
    first = first_data_ms(source, rule.model, version, has_rows=point.rows > 0)
    if first is None:
        return point.rows > 0, None
    if first <= current.start_ms:
        return True, None
    who = f"model {rule.model}" + (f" version {version}" if version is not None else "")
    judged_from = first + current.end_ms - current.start_ms
    if point.rows:
        where = f"starts at {_iso(current.start_ms)}, before"
        part = ", so it holds only part of a window's rows"
    else:
        where, part = f"ends at {_iso(current.end_ms)}, before", ""
    return True, (
        f"row count not judged yet: the window {where} the first data of {who} in the store "
        f"({_iso(first)}){part}; judged from {_iso(judged_from)} on"
    )


def _iso(ms: int) -> str:
    return from_epoch_ms(ms).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Point:
    """One instance's value from the report rows, with the rows its window held."""

    labels: dict[str, str]
    value: float
    note: str
    rows: int


def _values(metric: str, rows: pd.DataFrame) -> list[_Point]:
    """One point per instance of ``metric`` from the report rows."""
    keys = ["version"] if "version" in rows.columns else []
    if metric == CONTRACT_STATUS:
        per_feature = rows[rows["feature"] != ""]
        out = []
        for group, part in per_feature.groupby([*keys, "feature"], sort=True):
            labels = dict(zip([*keys, "feature"], map(str, group), strict=True))
            worst = int(part["status"].max())
            n = int(part["rows"].iloc[0])
            out.append(_Point({**labels, "check": "all"}, float(worst), _failing(part), n))
        return out
    check = metric.removeprefix(CONTRACT_PREFIX)
    part = rows[rows["check"] == check]
    out = []
    for row in part.itertuples(index=False):
        value = float(row.value)
        if not np.isfinite(value):
            continue  # e.g. PSI of a window without valid values: no data, no verdict
        # a row count grouped by version is the model's (version "", see report_rows)
        labels = {k: str(getattr(row, k)) for k in keys if str(getattr(row, k))}
        if check not in TABLE_CHECKS:
            labels["feature"] = str(row.feature)
        labels["check"] = check
        out.append(_Point(labels, value, _describe(row), int(row.rows)))
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
