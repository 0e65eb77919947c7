"""QA round 22c, three inconsistencies of the SDK, each checked against the real DuckDB store.

Findings: in a numeric feature the string "1.5" was parsed as a valid 1.5 while "abc" was a
special value (the docstrings say a string stays a string); ``log_batch(score=[True, False,
0.3])`` stored the bools as 1.0 and 0.0, where ``log(score=True)`` and a bool array are
parked; and ``log()`` after ``close()`` returned True whatever became of the row (stored by
DuckDB, failed later as a flush error by a closed Kafka sink).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
HOUR_MS = 3_600_000


def _monitor(sink: object, **kwargs: object) -> Monitor:
    return Monitor(sink, clock=FakeClock(T), **kwargs)  # type: ignore[arg-type]


def _summary(store: DuckDBStore) -> list[list[object]]:
    got = store.feature_summary(Scope("m", T_MS, T_MS + HOUR_MS), by_version=True)
    cols = ["version", "feature", "kind", "count", "nulls", "specials", "valid", "mean"]
    return got[cols].values.tolist()


# -- 1. strings in a numeric feature ---------------------------------------------------------
def test_numeric_strings_in_a_numeric_feature_are_special_values_not_parsed() -> None:
    """With a reference (v1), and without one once the feature was stored numeric (v2), a
    string is a special value whether it looks like a number or not, in ``log`` and
    ``log_batch`` alike: "1.5" used to be a valid 1.5 (mean 1.667) and "abc" a special."""
    store = DuckDBStore()
    ref = build_reference("m", pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    mon = _monitor(DuckDBSink(store), references={"m": ref})
    for v in (1.0, "1.5", "abc", 2.5):
        mon.log(model="m", version="v1", features={"x": v}, score=0.5, latency_ms=1.0, ts=T)
    mon.log(model="m", version="v2", features={"x": 1.0}, score=0.5, latency_ms=1.0, ts=T)
    mon.flush()  # v2's x is now stored numeric
    mon.log_batch(
        model="m",
        version="v2",
        features={"x": np.array(["1.5", "abc", 2.5], dtype=object)},
        score=np.full(3, 0.5),
        latency_ms=np.ones(3),
        ts_ms=np.full(3, T_MS),
    )
    mon.close()
    assert mon.stats.parked_total == 0
    assert _summary(store) == [
        ["v1", "x", "numeric", 4, 0, 2, 2, 1.75],
        ["v2", "x", "numeric", 4, 0, 2, 2, 1.75],
    ]
    # the valid values alone are binned: the strings are in no bin
    hist = store.feature_histograms(Scope("m", T_MS, T_MS + HOUR_MS), by_version=True)
    assert hist.groupby("version")["count"].sum().tolist() == [2, 2]


# -- 2. bools in a score -----------------------------------------------------------------
def test_bools_in_a_score_list_are_parked_as_log_parks_them() -> None:
    """``log(score=True)`` and a bool array are parked as ``bad_score``; so are the bools of
    a list mixing bools and floats (numpy read it as [1.0, 0.0, 0.3]); likewise a bool among
    the latencies or event times of a list."""
    store = DuckDBStore()
    mon = _monitor(DuckDBSink(store))
    assert not mon.log(model="m", version="v1", features={}, score=True, latency_ms=1.0)
    assert mon.stats.parked == {"bad_score": 1}
    rows = dict(model="m", version="v1", features={"x": np.ones(3)})
    assert mon.log_batch(**rows, score=np.array([True, False, True]), latency_ms=np.ones(3)) == 0
    assert mon.stats.parked == {"bad_score": 4}
    assert mon.log_batch(**rows, score=[True, False, 0.3], latency_ms=np.ones(3)) == 1
    assert mon.log_batch(**rows, score=(1, np.bool_(True), 0), latency_ms=np.ones(3)) == 2
    assert mon.stats.parked == {"bad_score": 7}
    assert mon.log_batch(**rows, score=np.full(3, 0.5), latency_ms=[1.0, True, 2.0]) == 2
    ts = [T_MS, True, T_MS]
    assert mon.log_batch(**rows, score=np.full(3, 0.5), latency_ms=np.ones(3), ts_ms=ts) == 2
    assert mon.stats.parked == {"bad_score": 7, "bad_latency_ms": 1, "bad_ts": 1}
    mon.close()
    inf = store._query("SELECT score, latency_ms FROM inferences ORDER BY ALL")
    assert inf.values.tolist() == [
        [0.0, 1.0],
        [0.3, 1.0],
        *[[0.5, 1.0]] * 3,
        [0.5, 2.0],
        [1.0, 1.0],
    ]
    reasons = store._query("SELECT reason FROM parked_events")["reason"].tolist()
    score_reasons = {r for r in reasons if r.startswith("bad_score")}
    assert len(score_reasons) == 2  # log()'s own wording, and the batch rule (bool array too)
    assert all("score must be" in r for r in score_reasons)


# -- 3. log() after close() ----------------------------------------------------------------
class ClosingSink:
    """An in-process stand-in with Kafka's closed state: a write after close() fails."""

    def __init__(self, store: DuckDBStore) -> None:
        self.inner = DuckDBSink(store)
        self.closed = False
        self.writes_after_close = 0

    def write(self, batch: EventBatch) -> None:
        if self.closed:
            self.writes_after_close += 1
            raise RuntimeError("sink is closed")
        self.inner.write(batch)

    def close(self) -> None:
        self.closed = True


def _log_everything(mon: Monitor) -> list[object]:
    return [
        mon.log(model="m", version="v1", features={"x": 1.0}, score=0.5, latency_ms=1.0),
        mon.log(model="m", version="v1", features={"x": 1.0}, score=None, latency_ms=1.0),  # type: ignore[arg-type]
        mon.log_batch(
            model="m",
            version="v1",
            features={"x": np.ones(3)},
            score=np.array([0.5, np.nan, 0.5]),
            latency_ms=np.ones(3),
        ),
        mon.log_outcome(model="m", request_id="r-1", label=1),
    ]


@pytest.mark.parametrize("sink_kind", ["duckdb", "closing"])
def test_logging_after_close_is_refused_and_counted_alike_for_every_sink(
    sink_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After ``close()`` the Monitor refuses rows (False, 0 from ``log_batch``), counts them
    in ``stats.dropped_rows`` per table and warns once; it never writes to the closed sink,
    so DuckDB (which would still take the rows) and a closed Kafka-like sink (which fails
    them as flush errors) look the same to the Monitor, and nothing is left for exit."""
    store = DuckDBStore()
    sink = DuckDBSink(store) if sink_kind == "duckdb" else ClosingSink(store)
    mon = _monitor(sink, flush_interval=pd.Timedelta(0))
    assert _log_everything(mon) == [True, False, 2, True]
    mon.close()
    before = int(store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0])
    with caplog.at_level(logging.WARNING, logger="modelhealth.ingestion.sdk"):
        assert _log_everything(mon) == [False, False, 0, False]
        assert _log_everything(mon) == [False, False, 0, False]
    mon.flush()
    mon.close()  # a second close() is harmless
    assert before == 3
    assert int(store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0]) == 3
    assert mon.stats.flush_errors == 0
    assert mon.stats.accepted == 3
    assert mon.stats.dropped_by_table == {"inferences": 6, "outcomes": 2, "parked": 4}
    assert mon.stats.dropped_rows == 12
    assert mon.stats.parked == {"bad_score": 6}  # still counted as malformed, never stored
    assert not mon._pending()  # the exit hook has nothing to flush
    warned = [r for r in caplog.records if "after close()" in r.getMessage()]
    assert len(warned) == 1
    if isinstance(sink, ClosingSink):
        assert sink.writes_after_close == 0


def test_a_monitor_whose_close_failed_still_takes_rows() -> None:
    """A close() that failed leaves the Monitor open (it can be called again, and the exit
    hook retries it): rows logged meanwhile are kept and written by the next close()."""

    class FailingOnce(ClosingSink):
        def __init__(self, store: DuckDBStore) -> None:
            super().__init__(store)
            self.fail = True

        def write(self, batch: EventBatch) -> None:
            if self.fail:
                self.fail = False
                raise RuntimeError("down")
            super().write(batch)

    store = DuckDBStore()
    mon = _monitor(FailingOnce(store))
    assert mon.log(model="m", version="v1", features={"x": 1.0}, score=0.5, latency_ms=1.0)
    with pytest.raises(RuntimeError, match="down"):
        mon.close()
    assert mon.log(model="m", version="v1", features={"x": 1.0}, score=0.5, latency_ms=1.0)
    mon.close()
    assert int(store._query("SELECT count(*) AS n FROM inferences")["n"].iloc[0]) == 2
    assert mon.stats.dropped_rows == 0


def test_a_batch_aggregated_while_close_ran_is_refused_not_stranded() -> None:
    """A ``log_batch`` that took its rows before ``close()`` and buffers them after close()'s
    last flush would leave them for a sink that is closed: they are refused and counted
    instead (aggregate rows in ``dropped_by_table`` too)."""
    store = DuckDBStore()
    sink = ClosingSink(store)
    mon = _monitor(sink)
    aggregate = mon._aggregate

    def close_meanwhile(*args: object) -> EventBatch:
        block = aggregate(*args)  # type: ignore[arg-type]
        mon.close()  # another thread's shutdown hook
        return block

    mon._aggregate = close_meanwhile  # type: ignore[method-assign]
    n = mon.log_batch(
        model="m", version="v1", features={"x": np.ones(2)}, score=np.ones(2), latency_ms=np.ones(2)
    )
    assert n == 0
    assert mon.stats.accepted == 0
    assert mon.stats.dropped_rows == 2
    assert mon.stats.dropped_by_table["inferences"] == 2
    assert mon.stats.dropped_by_table["feature_stats"] == 1
    assert not mon._pending()
    assert sink.writes_after_close == 0
