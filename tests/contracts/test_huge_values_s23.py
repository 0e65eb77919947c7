"""QA s23: contracts count |x| > 1e150, and values that are no numbers, as special values,
as the SDK and references do.

The SDK (and ``build_reference``) count a finite value beyond ±1e150 as special: its square
overflows a window's sum of squares. Contracts did not: a training column with 10% of 1e200
got the contract range [61, 1e200], its own training rows read critical PSI 0.70 as a batch
(1e200 binned as overflow), and the same rows as a stored window read a null rate warning
(the SDK's specials were missing from the contract's rate).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import Status, build_contract, validate_frame, validate_window
from modelhealth.contracts.report import CheckResult, ContractReport
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 2, 1, tzinfo=UTC)
HOUR = 3_600_000


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"amt": np.r_[rng.normal(100, 10, 900), [1e200] * 50, [-1e180] * 50]})


def _window(contract, batch: pd.DataFrame) -> ContractReport:
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"m": contract.to_reference()}, clock=FakeClock(T0))
    n = len(batch)
    mon.log_batch(
        model="m",
        version="v1",
        features={c: batch[c].to_numpy() for c in batch.columns},
        score=np.zeros(n),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, to_epoch_ms(T0)),
    )
    mon.close()
    return validate_window(contract, store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR))


def _one(report: ContractReport, check: str, message: str = "") -> CheckResult:
    found = [r for r in report.results if r.check == check and message in r.message]
    assert len(found) == 1, f"{check} {message!r}: {found}"
    return found[0]


def test_huge_values_are_a_special_rate_not_the_range() -> None:
    col = build_contract("m", _train()).columns["amt"]
    assert col.max < 200 and col.min > 0, f"contract range [{col.min}, {col.max}]"
    assert col.special_rates["inf"] == pytest.approx(0.1)
    assert col.missing_rate == pytest.approx(0.1)


def test_training_rows_are_healthy_as_a_batch_and_as_a_stored_window() -> None:
    train = _train()
    contract = build_contract("m", train)
    batch, window = validate_frame(contract, train), _window(contract, train)
    assert _one(batch, "psi").value == pytest.approx(0.0)
    assert _one(window, "psi").value == pytest.approx(0.0)
    assert _one(window, "null_rate").value == pytest.approx(0.1)
    assert _one(window, "null_rate").status == Status.HEALTHY
    huge = _one(batch, "special_rate", "1e150")
    assert huge.value == pytest.approx(0.1) and huge.status == Status.HEALTHY
    assert batch.status == Status.HEALTHY and window.status == Status.HEALTHY


def test_a_batch_with_more_huge_values_reads_as_the_window_does() -> None:
    """40% beyond 1e150 in production: a special-rate (batch) and null-rate (window) verdict,
    never an out-of-range or PSI one from binning 1e200 as an ordinary large value."""
    contract = build_contract("m", _train())
    rng = np.random.default_rng(1)
    batch = pd.DataFrame({"amt": np.r_[rng.normal(100, 10, 600), [3e151] * 400]})
    report, window = validate_frame(contract, batch), _window(contract, batch)
    assert _one(report, "special_rate", "1e150").status == Status.CRITICAL  # 0.4 > 0.1 + 0.2
    assert _one(window, "null_rate").status == Status.CRITICAL  # nulls + specials, alike
    for check in ("out_of_range", "psi"):
        assert _one(report, check).value == pytest.approx(_one(window, check).value, abs=1e-12)
        assert _one(report, check).status == Status.HEALTHY


def test_values_that_are_no_numbers_are_a_special_rate_in_a_batch_as_in_a_window() -> None:
    """10% of "n/a" in a numeric column: the SDK counts them special (a window's null rate
    reads 0.1), while a batch left them out of every rate (only the dtype said anything)."""
    rng = np.random.default_rng(2)
    contract = build_contract("m", pd.DataFrame({"amt": rng.normal(100, 10, 1000)}))
    amt = [*rng.normal(100, 10, 900), *["n/a"] * 50, *["abc"] * 50]
    batch = pd.DataFrame({"amt": pd.Series(amt, dtype=object)})
    junk = _one(validate_frame(contract, batch), "special_rate", "not a number")
    assert junk.value == pytest.approx(0.1) and junk.status == Status.WARNING
    assert junk.message == "value not a number, e.g. 'n/a', 'abc'"
    assert _one(_window(contract, batch), "null_rate").value == pytest.approx(junk.value)
    clean = validate_frame(contract, pd.DataFrame({"amt": [1.0, np.nan, None]}))
    assert not [r for r in clean.results if "not a number" in r.message]
