"""A stored window whose features were renamed or dropped: the contract's column is missing.

A window's rows were counted over the contract's columns only, so a window whose 500 rows
all carry ``b`` instead of the contract's ``a`` read 0 rows, and ``a``'s ``missing_column``
check read healthy: the renamed feature a data contract exists to catch went unseen. A
batch without the column is critical (``contract validate --data``); a window with rows and
without the column must be too, with the window's real row count.

The stores are real DuckDB stores filled through the SDK's ``Monitor``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import (
    Status,
    build_contract,
    validate_frame,
    validate_stats,
    validate_window,
)
from modelhealth.contracts.report import ContractReport
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOUR = 3_600_000
ROWS = 500


def _contract():
    return build_contract("m", pd.DataFrame({"a": np.arange(200.0)}))


def _checks(report: ContractReport) -> list[tuple[str, str, Status]]:
    return [(r.check, r.column, r.status) for r in report.results]


def _store_with_b_only(reference_features: list[str], versions: tuple[str, ...] = ("v1",)):
    """500 rows a version that carry only feature ``b``, logged through the SDK with a
    reference profile of ``reference_features``."""
    train = pd.DataFrame({f: np.arange(200.0) for f in reference_features})
    store = DuckDBStore(":memory:")
    monitor = Monitor(DuckDBSink(store), {"m": build_reference("m", train)}, clock=FakeClock(T0))
    for version in versions:
        monitor.log_batch(
            model="m",
            version=version,
            features={"b": np.arange(float(ROWS))},
            score=np.zeros(ROWS),
            latency_ms=np.ones(ROWS),
            ts_ms=np.full(ROWS, to_epoch_ms(T0)),
        )
    monitor.close()
    return store


def test_stats_of_a_renamed_feature_flag_the_contract_column_critical():
    """The reproduction: a summary holding only ``b`` (500 values) read rows=0 and
    ``missing_column a`` healthy."""
    summary = pd.DataFrame(
        [
            {
                "feature": "b",
                "kind": "numeric",
                "count": ROWS,
                "nulls": 0,
                "specials": 0,
                "valid": ROWS,
                "sum": 0.0,
                "sum_sq": 0.0,
                "min": 0.0,
                "max": 1.0,
            }
        ]
    )
    hist = pd.DataFrame(columns=["feature", "bin", "label", "count"])
    report = validate_stats(_contract(), summary, hist)
    assert report.rows == ROWS
    assert _checks(report) == [("missing_column", "a", Status.CRITICAL)]


def test_a_window_without_rows_is_no_missing_column():
    """No traffic is not "every column missing": with no feature at all the column check
    stays healthy (the row count, when the contract sets one, says the feed stopped)."""
    summary = pd.DataFrame(columns=["feature", "kind", "count", "nulls", "specials", "valid"])
    hist = pd.DataFrame(columns=["feature", "bin", "label", "count"])
    report = validate_stats(_contract(), summary, hist)
    assert report.rows == 0
    assert _checks(report) == [("missing_column", "a", Status.HEALTHY)]


def test_window_through_the_sdk_without_the_column_in_the_reference_is_critical():
    """The Monitor's reference knows only ``b``, so ``a`` is not stored at all: the window
    read 0 rows and ``a`` healthy; now critical, as the same batch is."""
    store = _store_with_b_only(["b"])
    report = validate_window(
        _contract(), store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR)
    )
    assert report.rows == ROWS
    assert _checks(report) == [("missing_column", "a", Status.CRITICAL)]
    batch = validate_frame(_contract(), pd.DataFrame({"b": np.arange(float(ROWS))}))
    (batch_missing,) = [r for r in batch.results if r.check == "missing_column"]
    assert (batch_missing.column, batch_missing.status) == ("a", Status.CRITICAL)


def test_window_through_the_sdk_with_the_column_in_the_reference_is_critical():
    """The Monitor's reference names ``a``, so the SDK stores it as a null in every row:
    the column is missing in that case too, over the same 500 rows."""
    store = _store_with_b_only(["a"])
    report = validate_window(
        _contract(), store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR)
    )
    assert report.rows == ROWS
    assert _checks(report) == [("missing_column", "a", Status.CRITICAL)]


def test_rules_see_the_missing_column_and_the_rows_per_model_and_per_version(tmp_path: Path):
    """The rules engine counts the rows as the report does: with ``group_by: [version]``
    the row count (the model's, over both versions) read 0 rows, a "stopped feed", while
    1000 rows arrived; and ``contract.missing_column`` of ``a`` never fired."""
    store = _store_with_b_only(["b"], versions=("v1", "v2"))
    contract = dataclasses.replace(_contract(), expected_rows=2 * ROWS)
    contract.save(tmp_path / "m.contract.yaml")
    (tmp_path / "m.yaml").write_text(
        "model: m\ncontract: m.contract.yaml\nrules:\n"
        "  - {name: missing, metric: contract.missing_column, window: 1h,"
        " group_by: [version], detector: {type: threshold, above: 0.5}}\n"
        # fires while the row count is as expected (0 change), to read its value
        "  - {name: rows, metric: contract.row_count_change, window: 1h,"
        " group_by: [version], detector: {type: threshold, below: 0.01}}\n"
        "  - {name: rows-all, metric: contract.row_count_change, window: 1h,"
        " detector: {type: threshold, below: 0.01}}\n"
    )
    loaded = load_rules([tmp_path / "m.yaml"])
    assert loaded.ok, [str(i) for i in loaded.issues]
    report = Evaluator(loaded.rules, store).tick(T0 + timedelta(hours=1))
    assert not report.errors, report.errors
    fired = sorted(
        (a.labels["alertname"], a.labels.get("version", ""), a.value) for a in report.firing
    )
    assert fired == [("missing", "v1", 1.0), ("missing", "v2", 1.0), ("rows", "", 0.0),
                     ("rows-all", "", 0.0)]  # fmt: skip
