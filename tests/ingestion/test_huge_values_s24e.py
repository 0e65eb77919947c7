"""Numbers beyond any float, and values whose text cannot be made, are parked like any bad
value: ``log``, ``log_outcome`` and ``log_batch`` never raise on them."""

from __future__ import annotations

import pytest

from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}
HUGE = 10**400  # beyond float: float() raises OverflowError
ENORMOUS = 10**5000  # beyond Python's 4,300-digit int-to-text limit: repr() raises


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Recorder:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "value", [HUGE, -HUGE, ENORMOUS, Unprintable()], ids=["1e400", "-1e400", "1e5000", "norepr"]
)
@pytest.mark.parametrize("field", ["score", "latency_ms", "ts"])
def test_log_parks_a_number_beyond_float(field: str, value: object) -> None:
    mon = Monitor(Recorder())
    assert mon.log(**{**GOOD, field: value}) is False
    assert mon.stats.parked_total == 1
    assert mon.stats.accepted == 0


@pytest.mark.parametrize("field", ["label", "ts"])
@pytest.mark.parametrize("value", [HUGE, ENORMOUS], ids=["1e400", "1e5000"])
def test_log_outcome_parks_a_number_beyond_float(field: str, value: object) -> None:
    mon = Monitor(Recorder())
    args = {"model": "m", "request_id": "r-1", "label": 1, field: value}
    assert mon.log_outcome(**args) is False  # type: ignore[arg-type]
    assert mon.stats.parked_total == 1


@pytest.mark.parametrize("column", ["score", "latency_ms", "ts_ms"])
def test_log_batch_parks_only_the_row_beyond_float(column: str) -> None:
    sink = Recorder()
    mon = Monitor(sink)
    good = 1_700_000_000_000 if column == "ts_ms" else 0.5
    args = {
        "model": "m",
        "version": "v1",
        "features": {"a": [1.0, 2.0]},
        "score": [0.5, 0.5],
        "latency_ms": [1.0, 1.0],
        column: [good, HUGE],
    }
    assert mon.log_batch(**args) == 1  # type: ignore[arg-type]
    assert sum(mon.stats.parked.values()) == 1
    mon.flush()
    assert len(sink.batches[0].inferences) == 1


def test_a_reason_shows_a_long_value_cut() -> None:
    mon = Monitor(Recorder())
    assert mon.log(**{**GOOD, "score": "x" * 1_000_000}) is False
    reason = mon._parked[0].reason
    assert len(reason) < 1000, len(reason)  # the event itself is kept apart, cut too
    assert "1000002 characters" in reason
