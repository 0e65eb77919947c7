"""Validate a batch (DataFrame) or a stored window against a DataContract.

Both paths grade the same checks with the contract's (warning, critical) bounds; a stored
window only has what the SDK aggregates (counts, null+special counts, min/max, histograms),
so schema types, per-sentinel rates and uniqueness are checked on batches only.

Columns that were unique in the reference (identifiers) get the duplicates check and no
range or distribution check: new ids are always "out of range" and that is no drift.

    report = validate_frame(contract, batch)                 # -> ContractReport
    report = validate_window(contract, store, scope)
    report = validate_stats(contract, summary_frame, histogram_frame)   # frames in hand
    contract_metrics(store, scope, contract)                 # rules-engine view
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from modelhealth.contracts.checks import CheckFn, run_custom
from modelhealth.contracts.datamodel import ColumnContract, DataContract
from modelhealth.contracts.dtypes import TIME_NOTE, dtype_check, is_time_column
from modelhealth.contracts.report import CheckResult, ContractReport, Status, grade
from modelhealth.contracts.specials import INF_LABEL, beyond_huge, special_hits, special_mask
from modelhealth.drift.alignment import misaligned
from modelhealth.drift.metrics import psi
from modelhealth.ingestion.reference import numeric_bin_index
from modelhealth.store.backend import QueryBackend, Scope


def _rated(
    contract: DataContract, check: str, column: str, value: float, base: float, msg: str = ""
) -> CheckResult:
    """A rate check: healthy up to ``base + warning``; threshold shown is the bound reached."""
    warn, crit = contract.threshold(check)
    status = grade(value, base + warn, base + crit)
    bound = base + (crit if status == Status.CRITICAL else warn)
    return CheckResult(check, column, status, value, bound, msg)


def bin_counts(col: ColumnContract, values: pd.Series, specials: tuple[float, ...]) -> np.ndarray:
    """Histogram of a batch column in the contract's bins (valid values only: NaN, ±inf and
    the special values are left out, as the SDK leaves them out of a stored window's bins)."""
    n_bins = len(col.edges) + 1 if col.kind == "numeric" else len(col.categories) + 1
    if col.kind == "numeric":
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        v = v[~special_mask(v, specials)]
        idx = numeric_bin_index(v, np.asarray(col.edges))
    else:
        text = values[values.notna()].astype(str)
        text = text[text != ""]
        codes = pd.Categorical(text, categories=list(col.categories)).codes
        idx = np.where(codes < 0, len(col.categories), codes)
    return np.bincount(idx, minlength=n_bins).astype(np.float64)


PSI_MIN_COUNT = 100
"""Valid values a column needs before its PSI check is judged (the rules' drift default,
``rules.metrics.DRIFT_MIN_COUNT``): PSI reads sampling noise as drift on small samples (a
sample of 20 values from the training data itself reads PSI > 0.2 92% of the time, of 50
values 43%, of 100 values 3%), so ``contract.status`` on a quiet hour went critical at
night. A smaller batch or window is not judged: NaN with the reason, not a grade."""


def _psi(contract: DataContract, name: str, counts: np.ndarray) -> CheckResult:
    col = contract.columns[name]
    if not sum(col.counts):
        # a column null or special throughout training has no distribution: the report read
        # "nan (threshold 0.1)" with no word of why, as if a batch value were broken
        why = "not judged: the contract holds no training values to compare with"
        return CheckResult("psi", name, Status.HEALTHY, float("nan"), None, why)
    if counts.sum() == 0:
        return CheckResult("psi", name, Status.HEALTHY, float("nan"), None, "no values")
    if counts.sum() < PSI_MIN_COUNT:
        why = f"not judged: {counts.sum():.0f} values, fewer than the {PSI_MIN_COUNT} PSI needs"
        return CheckResult("psi", name, Status.HEALTHY, float("nan"), None, why)
    value = float(psi(np.asarray(col.counts), counts)[0])
    warn, crit = contract.threshold("psi")
    status = grade(value, warn, crit)
    return CheckResult("psi", name, status, value, crit if status == Status.CRITICAL else warn)


def _row_count(contract: DataContract, rows: int) -> list[CheckResult]:
    if not contract.expected_rows:
        return []
    change = abs(rows / contract.expected_rows - 1.0)
    warn, crit = contract.threshold("row_count_change")
    status = grade(change, warn, crit)
    return [
        CheckResult(
            "row_count_change",
            "",
            status,
            change,
            crit if status == Status.CRITICAL else warn,
            f"{rows} rows, expected {contract.expected_rows}",
        )
    ]


def _empty_batch() -> CheckResult:
    """A batch without rows is critical, and its columns are not checked: a header-only CSV
    reads every column as ``object``, which reported a critical dtype change per numeric
    column instead of the empty export it is."""
    return CheckResult("rows", "", Status.CRITICAL, 0.0, None, "the batch has no rows")


def _column_checks(contract: DataContract, col: ColumnContract, s: pd.Series) -> list[CheckResult]:
    n = max(len(s), 1)
    out: list[CheckResult] = []
    out.append(dtype_check(col, s))
    nulls = s.isna()
    out.append(_rated(contract, "null_rate", col.name, float(nulls.sum()) / n, col.null_rate))
    if col.kind == "numeric":
        v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        rates = dict(col.special_rates)
        if beyond_huge(v).any():
            rates.setdefault(INF_LABEL, 0.0)  # ±inf is special even where training had none
        for label, base in rates.items():
            rate = float(np.sum(special_hits(v, label))) / n
            shown = "±inf or |x| > 1e150" if label == INF_LABEL else label
            out.append(_rated(contract, "special_rate", col.name, rate, base, f"value {shown}"))
        junk = _not_numbers(contract, col.name, s, v, nulls.to_numpy(dtype=bool))
        if junk is not None:
            out.append(junk)
        valid = v[~special_mask(v, contract.special_values)]
        if col.min is not None and col.max is not None and valid.size and not col.unique:
            outside = float(np.mean((valid < col.min) | (valid > col.max)))
            out.append(
                _rated(
                    contract,
                    "out_of_range",
                    col.name,
                    outside,
                    0.0,
                    f"observed [{valid.min():.4g}, {valid.max():.4g}], "
                    f"contract [{col.min:.4g}, {col.max:.4g}]",
                )
            )
    else:
        text = s[~nulls].astype(str)
        empty = float((text == "").sum()) / n
        base = col.special_rates.get("empty", 0.0)
        out.append(_rated(contract, "special_rate", col.name, empty, base, "value ''"))
        if col.domain and len(text) and not is_time_column(col):
            present = text[text != ""]
            unseen = ~present.isin(col.domain)
            share = float(unseen.mean()) if len(present) else 0.0
            examples = ", ".join(sorted(present[unseen].unique()[:3]))
            msg = f"unseen e.g. {examples}" if examples else ""
            out.append(_rated(contract, "out_of_domain", col.name, share, 0.0, msg))
    if col.unique:
        present = s[~nulls]
        if col.kind == "numeric":
            num = pd.to_numeric(present, errors="coerce").to_numpy(dtype=np.float64)
            present = present[~special_mask(num, contract.special_values) | np.isnan(num)]
        dup = float(present.duplicated().mean()) if len(present) else 0.0
        out.append(_rated(contract, "duplicates", col.name, dup, 0.0))
    if not col.unique and is_time_column(col):
        out.append(CheckResult("psi", col.name, Status.HEALTHY, float("nan"), None, TIME_NOTE))
    elif not col.unique:
        out.append(_psi(contract, col.name, bin_counts(col, s, contract.special_values)))
    return out


def _not_numbers(
    contract: DataContract, name: str, s: pd.Series, v: np.ndarray, nulls: np.ndarray
) -> CheckResult | None:
    """Values of a numeric column that are present but no number ("abc", "n/a"), if any.

    The SDK counts them as special values (a stored window's null rate holds them); a batch
    left them out of every rate, so 5% of "abc" showed only as a dtype change. Rated like a
    special value that training never had (a numeric contract column held only numbers)."""
    junk = ~nulls & np.isnan(v)
    if not junk.any():
        return None
    examples = ", ".join(repr(str(x))[:24] for x in pd.unique(s[junk])[:3])
    rate = float(junk.sum()) / max(len(s), 1)
    return _rated(contract, "special_rate", name, rate, 0.0, f"value not a number, e.g. {examples}")


def validate_frame(
    contract: DataContract,
    frame: pd.DataFrame,
    checks: Mapping[str, CheckFn] | None = None,
) -> ContractReport:
    """Every contract check on a batch, plus the contract's custom checks."""
    results: list[CheckResult] = []
    if frame.empty:
        results.append(_empty_batch())
    for name, col in contract.columns.items():
        if name not in frame.columns:
            results.append(
                CheckResult("missing_column", name, Status.CRITICAL, 1.0, 0.0, "not in batch")
            )
            continue
        if not frame.empty:
            results.extend(_column_checks(contract, col, frame[name]))
    for extra in frame.columns:
        # a column skipped for errors in its contract entry is not "new" (its error is shown)
        if str(extra) not in contract.columns and str(extra) not in contract.skipped:
            results.append(
                CheckResult("unexpected_column", str(extra), Status.WARNING, 1.0, 0.0, "new")
            )
    results.extend(_row_count(contract, len(frame)))
    results.extend(run_custom(contract.custom, frame, checks, contract.source))
    return ContractReport(
        model=contract.model,
        contract_version=contract.contract_version,
        rows=len(frame),
        reference_rows=contract.row_count,
        expected_rows=contract.expected_rows,
        results=tuple(results),
    )


WINDOW_CHECKS: dict[str, str] = {
    "null_rate": "share of events null or special (nulls + specials), vs the contract's rate",
    "out_of_range": "share of values in the under/overflow bins beyond the contract's share",
    "out_of_domain": "share of categorical values never seen in the contract's domain",
    "psi": "population stability index of the window vs the contract's histogram",
    "missing_column": "1 when a contract column has no stored values in the window",
    "row_count_change": "|rows / expected_rows - 1| (only when the contract sets expected_rows)",
}
"""Every check :func:`validate_stats` can emit (names as in the report), for metric catalogs."""


def validate_window(contract: DataContract, store: QueryBackend, scope: Scope) -> ContractReport:
    """The checks the stored statistics support, over one window (two store queries).

    The summary covers every feature of the window, not only the contract's: its rows are
    counted over all of them (:func:`window_rows`), so a window whose features were renamed
    still has its rows and flags the contract's columns as missing."""
    names = list(contract.columns)
    summary = store.feature_summary(scope)
    hist = store.feature_histograms(scope, names)
    return validate_stats(contract, summary, hist)


def window_rows(summary: pd.DataFrame) -> int:
    """The rows (events) of a window: the most values any stored feature holds.

    Every feature is counted, not only the contract's columns: the SDK stores an event's
    value (or null) of each feature it knows, so any feature's count is the window's rows.
    Counted over the contract's columns only, a window whose 500 rows all carry a renamed
    feature read 0 rows, and the contract column it lacked read ``missing_column`` healthy:
    the very change a data contract exists to catch."""
    return int(summary["count"].max()) if len(summary) else 0


def validate_stats(
    contract: DataContract, summary: pd.DataFrame, hist: pd.DataFrame
) -> ContractReport:
    """:func:`validate_window` on frames already fetched (one window, one version).

    ``summary`` and ``hist`` are the store's ``feature_summary``/``feature_histograms`` rows;
    features the contract does not name are not checked, but they count towards the window's
    rows (:func:`window_rows`): a contract column missing from a window with rows is
    critical, as a batch without the column is in :func:`validate_frame`. The rules engine
    calls this with the frames it already shares between rules, so contract metrics cost no
    extra queries.

    Stored bins are matched with the contract's by label: a feature the SDK binned with
    another profile (or none) gets no range, domain or PSI verdict but a ``psi`` of NaN
    saying why (see :mod:`modelhealth.drift.alignment`)."""
    rows = window_rows(summary)
    summary = summary[summary["feature"].isin(list(contract.columns))].set_index("feature")
    unaligned = misaligned([hist], contract.to_reference()) if len(hist) else {}
    by_feature = dict(iter(hist.groupby("feature", sort=False))) if len(hist) else {}
    empty_hist = hist.iloc[0:0]
    results: list[CheckResult] = []
    for name, col in contract.columns.items():
        row = summary.loc[name] if name in summary.index else None
        if row is None or int(row["nulls"]) >= int(row["count"]):
            # Nothing but nulls is a column the server does not send: the SDK stores a key
            # an event lacks as a null of every feature it knows (the reference's among them)
            status = Status.CRITICAL if rows else Status.HEALTHY
            why = "no values stored" if row is None else "every value stored is null or absent"
            results.append(CheckResult("missing_column", name, status, 1.0, 0.0, why))
            continue
        n = max(int(row["count"]), 1)
        missing = (int(row["nulls"]) + int(row["specials"])) / n
        results.append(
            _rated(contract, "null_rate", name, missing, col.missing_rate, "nulls + specials")
        )
        if name in unaligned:
            why = f"not judged: {unaligned[name]}"
            results.append(CheckResult("psi", name, Status.HEALTHY, float("nan"), None, why))
            continue
        counts = _window_counts(col, by_feature.get(name, empty_hist))
        total = counts.sum()
        if col.unique:
            pass  # identifiers: no range or distribution check (see module docstring)
        elif col.kind == "numeric" and total and col.counts:
            results.append(
                _rated(
                    contract,
                    "out_of_range",
                    name,
                    _out_of_range_share(col, counts, float(row["max"])),
                    0.0,
                    f"observed [{row['min']:.4g}, {row['max']:.4g}]",
                )
            )
        elif is_time_column(col):
            results.append(CheckResult("psi", name, Status.HEALTHY, float("nan"), None, TIME_NOTE))
            continue
        elif col.domain and total:
            share, note = _out_of_domain(col, counts)
            results.append(_rated(contract, "out_of_domain", name, share, 0.0, note))
        if not col.unique:
            results.append(_psi(contract, name, counts))
    results.extend(_row_count(contract, rows))
    return ContractReport(
        model=contract.model,
        contract_version=contract.contract_version,
        rows=rows,
        reference_rows=contract.row_count,
        expected_rows=contract.expected_rows,
        results=tuple(results),
    )


def _out_of_range_share(col: ColumnContract, counts: np.ndarray, observed_max: float) -> float:
    """Share of a window's valid values in the contract's outer bins, beyond the reference's.

    The overflow bin is ``>= last edge``. Since references end with an edge one ulp above the
    training maximum, only values above it land there; a contract written before ends at the
    maximum itself, so its overflow bin holds the maximum too, and a feature capped at its
    training maximum (``txn_velocity`` 9 in 10% of a window, all within [0, 9]) read 0.0998
    out of range, critical, where the same rows as a batch read 0. A window whose observed
    maximum is within the contract's has no value above it, whatever that bin holds."""
    ref = np.asarray(col.counts, dtype=np.float64)
    above, ref_above = counts[-1], ref[-1]
    if col.max is not None and observed_max <= col.max:
        above = ref_above = 0.0
    share = (counts[0] + above) / counts.sum() - (ref[0] + ref_above) / max(ref.sum(), 1)
    return max(0.0, float(share))


def _window_counts(col: ColumnContract, h: pd.DataFrame) -> np.ndarray:
    """A stored window's counts per contract bin (its bins were checked to be the contract's).

    Sized by the contract's edges or categories, not by its ``counts``: a contract written
    without counts kept only bin 0 of every window."""
    n_bins = len(col.edges) + 1 if col.kind == "numeric" else len(col.categories) + 1
    counts = np.zeros(n_bins)
    bins, values = h["bin"].to_numpy(dtype=np.int64), h["count"].to_numpy(dtype=np.float64)
    inside = bins < n_bins
    np.add.at(counts, bins[inside], values[inside])
    return counts


def _out_of_domain(col: ColumnContract, counts: np.ndarray) -> tuple[float, str]:
    """Share of a window's values outside the contract's domain, and a note saying how many.

    Read by bin, not by label: a stored label is the category cut to 256 characters with NUL
    as U+FFFD (``schema.stored_label``), so compared as text with the domain, a 300-character
    or NUL-holding training category counted as unseen and training data read critical. A
    window cannot name the unseen values (the SDK stores them all in ``__other__``); ``contract
    validate --data`` on a batch shows examples."""
    domain = set(col.domain)
    known = [i for i, category in enumerate(col.categories) if category in domain]
    total = float(counts.sum())
    unseen = total - float(counts[known].sum())
    note = f"{unseen:.0f} of {total:.0f} values outside the domain" if unseen else ""
    return unseen / total, note


def contract_metrics(store: QueryBackend, scope: Scope, contract: DataContract) -> pd.DataFrame:
    """Contract checks as rule-engine metrics: ``feature check value status`` per row.

    ``status`` is 0 healthy, 1 warning, 2 critical, so a rule can alert on
    ``status >= 2`` or on ``value`` with its own threshold.
    """
    return report_metrics(validate_window(contract, store, scope))


def report_metrics(report: ContractReport) -> pd.DataFrame:
    """A report as ``feature check value status`` rows (see :func:`contract_metrics`)."""
    return pd.DataFrame(
        {
            "feature": [r.column for r in report.results],
            "check": [r.check for r in report.results],
            "value": [r.value for r in report.results],
            "status": [int(r.status) for r in report.results],
        }
    )
