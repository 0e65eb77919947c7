"""A date or time column of the training file is checked for type and nulls, not drift.

``contract create`` profiled a ``day`` column (30 training dates) as categories, so every
later batch read critical: all its dates "outside the domain" and PSI 15, day after day,
though dates moving on is no drift. A contract written that way (with a domain) is read the
same way now, in batches and stored windows alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import yaml

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import Status, build_contract, validate_frame, validate_window
from modelhealth.contracts.contract import parse_contract
from modelhealth.contracts.report import ContractReport
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 2, 1, tzinfo=UTC)
NOTE = "not judged: a date/time column (its values move on with time)"


def _frame(start: str, days: int, n: int, tz: str | None) -> pd.DataFrame:
    rng = np.random.default_rng(days)
    dates = pd.date_range(start, periods=days, freq="D", tz=tz)
    return pd.DataFrame({"day": rng.choice(dates, n), "x": rng.normal(size=n)})


def _day(report: ContractReport) -> dict[str, tuple[Status, str]]:
    return {r.check: (r.status, r.message) for r in report.results if r.column == "day"}


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_new_dates_in_a_batch_are_no_finding(tz: str | None) -> None:
    contract = build_contract("m", _frame("2026-01-01", 30, 3000, tz))
    assert contract.columns["day"].domain == ()
    checks = _day(validate_frame(contract, _frame("2026-02-01", 3, 500, tz)))
    assert "out_of_domain" not in checks
    assert checks["psi"] == (Status.HEALTHY, NOTE)
    assert checks["dtype"][0] == Status.HEALTHY


def test_a_contract_written_with_a_date_domain_is_read_alike() -> None:
    raw = build_contract("m", _frame("2026-01-01", 30, 3000, None)).to_dict()
    day = next(c for c in raw["columns"] if c["name"] == "day")
    day["domain"] = sorted(day["categories"])  # as contract create wrote it before
    contract = parse_contract(yaml.safe_dump(raw), "old.contract.yaml")
    report = validate_frame(contract, _frame("2026-02-01", 3, 500, None))
    assert "out_of_domain" not in _day(report) and report.status == Status.HEALTHY


def test_a_stored_window_of_date_strings_is_not_judged_either() -> None:
    contract = build_contract("m", _frame("2026-01-01", 30, 3000, None))
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"m": contract.to_reference()}, clock=FakeClock(T0))
    mon.log_batch(
        model="m",
        version="v1",
        features={"day": ["2026-02-01 00:00:00"] * 500, "x": np.zeros(500)},
        score=np.zeros(500),
        latency_ms=np.ones(500),
        ts_ms=np.full(500, to_epoch_ms(T0)),
    )
    mon.close()
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + 3_600_000)
    checks = _day(validate_window(contract, store, scope))
    assert checks["psi"] == (Status.HEALTHY, NOTE) and "out_of_domain" not in checks
    assert checks["null_rate"][0] == Status.HEALTHY
