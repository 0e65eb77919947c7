"""Normed Wasserstein on a feature that was constant in training.

``wasserstein_norm`` divides by the reference's standard deviation, which is 0 for a
constant: the metric read NaN (never drifted) when production moved off the constant,
however far, where Evidently (whose test it follows) floors the std at 0.001. It floors it
the same way now; expectations here come from scipy with the bin positions written out.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.drift.compare import Baseline, drift_table
from modelhealth.drift.metrics import compute, is_drifted
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STD_FLOOR = 0.001  # Evidently: norm = max(np.std(reference_data), 0.001)
POSITIONS = np.array([4.5, 5.0, 5.5])
"""Bins of a feature constant at 5 (``<5``, ``=5``, ``>5``): with no bin of real width, the
outer bins sit 0.5 beyond the edges (``bin_positions``, documented)."""


def _expected(r: np.ndarray, c: np.ndarray) -> float:
    return wasserstein_distance(POSITIONS, POSITIONS, r / r.sum(), c / c.sum()) / STD_FLOOR


def test_moving_off_a_training_constant_is_drift() -> None:
    r, c = np.array([0.0, 1000.0, 0.0]), np.array([0.0, 250.0, 200.0])
    value = compute("wasserstein_norm", r, c, positions=POSITIONS)
    assert value[0] == pytest.approx(_expected(r, c))  # 0.222 / 0.001
    assert is_drifted("wasserstein_norm", value)[0]


def test_staying_on_it_is_none() -> None:
    h = np.array([0.0, 1000.0, 0.0])
    assert compute("wasserstein_norm", h, h / 4, positions=POSITIONS)[0] == 0.0


def test_a_drift_table_judges_it_from_the_store() -> None:
    ref = build_reference("m", pd.DataFrame({"rate": np.full(1000, 5.0)}))
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T0))
    rate = np.r_[np.full(250, 5.0), np.full(200, 7.5)]
    mon.log_batch(
        model="m",
        version="v1",
        features={"rate": rate},
        score=np.zeros(rate.size),
        latency_ms=np.ones(rate.size),
        ts_ms=np.full(rate.size, to_epoch_ms(T0)),
    )
    mon.close()
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + 3_600_000)
    table = drift_table(store, scope, Baseline.profile(ref), metrics=["wasserstein_norm"])
    (row,) = table.itertuples(index=False)
    expected = _expected(np.array([0.0, 1000.0, 0.0]), np.array([0.0, 250.0, 200.0]))
    assert row.value == pytest.approx(expected) and row.drifted
