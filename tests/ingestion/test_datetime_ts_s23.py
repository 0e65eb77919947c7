"""Event times given as datetimes: numpy ``datetime64`` arrays and pandas datetime columns in
``log_batch(ts_ms=)``, and their scalars in ``log(ts=)``.

``log_batch(ts_ms=df["ts"])`` is what a pandas user writes, and ``df["ts"]`` is
datetime64[ns]: every row of it was parked as ``bad_ts``, the whole batch lost to a type. Now
a datetime64 column (numpy, or a pandas Series / DatetimeIndex) is read as UTC when it is
tz-naive (numpy's datetime64 has no time zone) and converted when it is tz-aware; a NaT row is
parked on its own, the other rows stored. ``log(ts=)`` reads ``np.datetime64`` and
``pd.Timestamp`` alike; a naive Python ``datetime`` stays refused (``datetime.now()`` is local
time, not UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
MIN_MS = 60_000


class ListSink:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def ts(self) -> list[int]:
        return [int(t) for b in self.batches for t in b.inferences["ts"]]

    def parked(self) -> list[tuple[str, str]]:
        return [(p.reason, p.event) for b in self.batches for p in b.parked]


def _monitor() -> tuple[Monitor, ListSink]:
    sink = ListSink()
    return Monitor(sink, clock=FakeClock(NOW), flush_interval=timedelta(hours=1)), sink


def _log_batch(mon: Monitor, ts: object, n: int = 3) -> int:
    return mon.log_batch(
        model="m",
        version="v1",
        features={"a": np.arange(n, dtype=float)},
        score=np.full(n, 0.5),
        latency_ms=np.full(n, 2.0),
        ts_ms=ts,  # type: ignore[arg-type]
    )


def _naive(n: int = 3) -> pd.DatetimeIndex:
    """n minutes from T, tz-naive, as ``pd.to_datetime`` of a UTC log's column gives them."""
    return pd.date_range(T.replace(tzinfo=None), periods=n, freq="min")


WANT = [T_MS + i * MIN_MS for i in range(3)]


@pytest.mark.parametrize(
    "column",
    [
        pytest.param(lambda: pd.Series(_naive()), id="naive-series"),
        pytest.param(lambda: pd.DataFrame({"ts": _naive()})["ts"], id="naive-frame-column"),
        pytest.param(lambda: _naive(), id="naive-datetimeindex"),
        pytest.param(lambda: _naive().to_numpy(), id="numpy-datetime64[ns]"),
        pytest.param(lambda: _naive().to_numpy().astype("datetime64[ms]"), id="numpy-ms"),
        pytest.param(lambda: _naive().tz_localize("UTC"), id="utc-datetimeindex"),
        pytest.param(
            lambda: pd.Series(_naive().tz_localize("UTC").tz_convert("America/New_York")),
            id="new-york-series",
        ),
        pytest.param(
            lambda: list(_naive().tz_localize("UTC").tz_convert("Asia/Kolkata")),
            id="list-of-aware-timestamps",
        ),
    ],
)
def test_log_batch_takes_datetime_columns(column: object) -> None:
    mon, sink = _monitor()
    assert _log_batch(mon, column()) == 3  # type: ignore[operator]
    mon.flush()
    assert sink.ts() == WANT
    assert mon.stats.parked_total == 0


def test_a_nat_row_is_parked_alone_and_the_rest_stored() -> None:
    mon, sink = _monitor()
    ts = pd.Series(_naive())
    ts.iloc[1] = pd.NaT
    assert _log_batch(mon, ts) == 2
    mon.flush()
    assert sink.ts() == [WANT[0], WANT[2]]
    assert mon.stats.parked == {"bad_ts": 1} and mon.stats.accepted == 2
    ((reason, event),) = sink.parked()
    assert reason.startswith("bad_ts: ") and "datetime64" in reason and "UTC" in reason, reason
    assert '"row": 1' in event and '"ts_ms": "NaT"' in event, event


def test_datetimes_are_never_read_as_epoch_seconds() -> None:
    """1970-01-02 is 86,400,000 ms: below 1e11, where a number is epoch seconds. A datetime
    says its unit; it is stored as the day it names, not 1972."""
    mon, sink = _monitor()
    day2 = np.array(["1970-01-02"], dtype="datetime64[D]")
    assert _log_batch(mon, day2, n=1) == 1
    mon.flush()
    assert sink.ts() == [86_400_000]


def test_datetimes_outside_1970_to_2200_are_parked_not_wrapped() -> None:
    """numpy's own cast to ms wraps a far datetime64[D] around into range (2**64 // 86.4e6 + 1
    days became 1970-01-01T09:34); such a row, and one before 1970 or after 2200, is a bad
    ts."""
    mon, sink = _monitor()
    wraps = 2**64 // 86_400_000 + 1
    days = [T_MS // 86_400_000, -1, 2300 * 366, wraps]
    assert _log_batch(mon, np.array(days, dtype="datetime64[D]"), n=4) == 1
    assert mon.stats.parked == {"bad_ts": 3}
    mon.flush()
    assert sink.ts() == [T_MS // 86_400_000 * 86_400_000]


def test_log_reads_scalar_datetimes_as_log_batch_reads_columns() -> None:
    """``log(ts=)`` with a row of such a column (``df["ts"].iloc[i]``: a naive pd.Timestamp),
    an ``np.datetime64`` or an aware Timestamp lands where ``log_batch`` puts the same time."""
    mon, sink = _monitor()
    berlin = timezone(timedelta(hours=1))
    for ts in (
        pd.Timestamp(T.replace(tzinfo=None)),
        np.datetime64(T.replace(tzinfo=None)),
        np.datetime64(T.replace(tzinfo=None), "ns"),
        pd.Timestamp(T).tz_convert("Asia/Tokyo"),
        T.astimezone(berlin),
        T_MS,
    ):
        assert mon.log(model="m", version="v1", features={}, score=0.5, latency_ms=1.0, ts=ts)
    mon.flush()
    assert sink.ts() == [T_MS] * 6


@pytest.mark.parametrize(
    ("ts", "says"),
    [
        (pd.NaT, "NaT"),
        (np.datetime64("NaT"), "NaT"),
        (datetime(2026, 1, 2), "timezone-aware"),  # naive datetime.now() is local time
        (np.datetime64("2300-01-01"), "2200-01-01"),
    ],
)
def test_log_parks_a_ts_that_is_no_time(ts: object, says: str) -> None:
    mon, sink = _monitor()
    assert not mon.log(model="m", version="v1", features={}, score=0.5, latency_ms=1.0, ts=ts)
    mon.flush()
    ((reason, _),) = sink.parked()
    assert reason.startswith("bad_ts: ") and says in reason, reason
