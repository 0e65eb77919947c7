"""A stored window's out_of_range check and contracts whose last edge is the training maximum.

References now end with an edge one ulp above the training maximum, so the overflow bin
holds only values above it. Contracts written before end at the maximum itself: their
overflow bin holds the maximum too, and a feature capped at its training maximum (a velocity
of 9 in 10% of a window, every value within [0, 9]) read out_of_range 0.0998, critical, where
the same rows as a batch read 0. The example contract was such a file; against the example
reference, its ``amount`` got no range or PSI verdict at all (its bins did not line up).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import DataContract, Status, validate_frame, validate_window
from modelhealth.contracts.contract import parse_contract
from modelhealth.contracts.report import CheckResult, ContractReport
from modelhealth.ingestion import ModelReference
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 2, 1, tzinfo=UTC)
HOUR = 3_600_000
EXAMPLES = Path(__file__).resolve().parents[2] / "modelhealth" / "demo" / "examples"

OLD_FORMAT = """\
model: m
row_count: 100
columns:
  - name: velocity
    dtype: float64
    kind: numeric
    min: 0.0
    max: 9.0
    edges: [0.0, 1.0, 2.0, 3.0, 4.0, 9.0]
    counts: [0, 10, 20, 20, 20, 29, 1]
"""
"""A contract as ``contract create`` wrote it before the ulp edge: last edge = the max."""


def _window(contract: DataContract, velocity: np.ndarray) -> ContractReport:
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"m": contract.to_reference()}, clock=FakeClock(T0))
    n = len(velocity)
    mon.log_batch(
        model="m",
        version="v1",
        features={"velocity": velocity},
        score=np.zeros(n),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, to_epoch_ms(T0)),
    )
    mon.close()
    return validate_window(contract, store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR))


def _range(report: ContractReport) -> CheckResult:
    (found,) = [r for r in report.results if r.check == "out_of_range"]
    return found


def _capped(top: float) -> np.ndarray:
    """500 values: 450 spread over [0, 8], 50 at ``top``."""
    return np.r_[np.arange(450) % 9, np.full(50, top)].astype(np.float64)


def test_values_at_the_training_maximum_are_in_range() -> None:
    contract = parse_contract(OLD_FORMAT, "old.contract.yaml")
    window = _range(_window(contract, _capped(9.0)))
    assert window.value == 0.0 and window.status == Status.HEALTHY, window
    batch = _range(validate_frame(contract, pd.DataFrame({"velocity": _capped(9.0)})))
    assert batch.value == 0.0


def test_values_above_it_are_still_out_of_range() -> None:
    contract = parse_contract(OLD_FORMAT, "old.contract.yaml")
    window = _range(_window(contract, _capped(12.0)))
    # 50 of 500 in the overflow bin, less the reference's 1 of 100 there
    assert window.value == pytest.approx(50 / 500 - 1 / 100)
    assert window.status == Status.CRITICAL


def test_the_example_contract_bins_are_the_example_references() -> None:
    contract = DataContract.load(EXAMPLES / "contracts" / "fraud.contract.yaml")
    reference = ModelReference.load(EXAMPLES / "references" / "fraud.json")
    assert sorted(contract.columns) == sorted(reference.features)
    for name, feature in reference.features.items():
        col = contract.columns[name]
        assert (col.edges, col.categories) == (feature.edges, feature.categories), name
        assert col.counts == feature.counts, name
