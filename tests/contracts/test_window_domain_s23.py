"""QA s23: a stored window's out_of_domain check reads bins, not label text.

Both stores keep a category's label cut to 256 characters, NUL shown as U+FFFD. The window
check compared those labels with the contract's domain as text, so a training category of
300 characters (a product title, a user agent) or one holding a NUL counted as never seen:
the training rows themselves, logged through the SDK, read out_of_domain 0.645 (critical)
while the same rows as a batch read 0.
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
LONG_A, LONG_B = "a" * 300, "b" * 300


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


def _domain(report: ContractReport, column: str) -> CheckResult:
    (found,) = [r for r in report.results if r.check == "out_of_domain" and r.column == column]
    return found


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "title": rng.choice([LONG_A, LONG_B, "short"], 1000),
            "code": rng.choice(["DE\x00x", "FR"], 1000),
        }
    )


@pytest.mark.parametrize("column", ["title", "code"])
def test_training_categories_are_in_the_domain_of_a_stored_window(column: str) -> None:
    train = _train()
    contract = build_contract("m", train)
    window = _domain(_window(contract, train), column)
    assert window.value == 0.0 and window.status == Status.HEALTHY, window
    assert _domain(validate_frame(contract, train), column).value == 0.0


def test_unseen_values_are_counted_and_the_note_says_how_many() -> None:
    train = _train()
    contract = build_contract("m", train)
    batch = train.assign(title=np.r_[[LONG_A] * 900, ["c" * 300] * 100])
    window = _domain(_window(contract, batch), "title")
    assert window.value == pytest.approx(0.1) and window.status == Status.CRITICAL
    assert window.message == "100 of 1000 values outside the domain"
    assert _domain(validate_frame(contract, batch), "title").value == pytest.approx(0.1)
