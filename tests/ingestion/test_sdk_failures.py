"""The SDK under hostile input and a failing sink: it parks, counts and retries, never raises
into the model server and never loses good data silently."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.errors import InvalidName
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import _refuse_non_finite
from modelhealth.ingestion.schema import TABLES
from modelhealth.names import check_name
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
HOUR = timedelta(hours=1)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}


class FlakySink:
    """Records written batches; raises while ``failures`` is positive (a broker being down)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def rows(self, table: str = "inferences") -> int:
        return sum(len(b.frames()[table]) for b in self.batches)


def _count(store: DuckDBStore, table: str) -> int:
    return int(store._query(f"SELECT count(*) AS n FROM {table}")["n"][0])


def _batch(mon: Monitor, n: int = 2, **override: object) -> int:
    args: dict[str, object] = {
        "model": "m",
        "version": "v1",
        "features": {"a": [1.0] * n},
        "score": [0.5] * n,
        "latency_ms": [1.0] * n,
    }
    return mon.log_batch(**{**args, **override})  # type: ignore[arg-type]


# -- 1. a flush never loses the buffer ------------------------------------------------------
def test_wild_timestamp_is_parked_at_log_time_and_the_flush_keeps_everything():
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T), flush_interval=HOUR)
    for i in range(100):
        assert mon.log(**{**GOOD, "request_id": f"g{i}"})
    assert mon.log_outcome(model="m", request_id="g1", label=1)
    assert not mon.log(**{**GOOD, "ts": 1e19})
    assert not mon.log_outcome(model="m", request_id="g2", label=1, ts=math.inf)
    assert _batch(mon, 3, ts_ms=[T_MS, 1e19, math.nan]) == 1
    mon.flush()
    assert _count(store, "inferences") == 101
    assert _count(store, "outcomes") == 1
    assert mon.stats.parked["bad_ts"] == 4 and _count(store, "parked_events") == 4
    assert "2200-01-01" in store.parked_events()["reason"].iloc[0]


def test_failed_sink_write_is_retried_by_the_next_flush_and_flush_raises():
    sink = FlakySink(failures=1)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=HOUR)
    for i in range(10):
        mon.log(**{**GOOD, "request_id": f"r{i}"})
    mon.log_outcome(model="m", request_id="r1", label=0)
    mon.log(**{**GOOD, "latency_ms": -1.0})  # parked
    with pytest.raises(ConnectionError):
        mon.flush()
    assert mon.stats.flush_errors == 1 and "broker" in mon.stats.last_flush_error
    mon.log(**{**GOOD, "request_id": "after"})
    mon.flush()
    assert sink.rows() == 11 and sink.rows("outcomes") == 1
    assert len(sink.batches) == 1 and len(sink.batches[0].parked) == 1
    assert mon.flush().is_empty()  # written once, not again


def test_auto_flush_inside_log_never_raises_and_backs_off_while_the_sink_is_down():
    """Each log() flushes (interval 0), but after a failure the automatic flushes wait 1 s,
    then 2 s, then 4 s: a sink that is down makes each write wait its timeout (30 s for
    Kafka), and retrying on every request stalled every request."""
    clock = FakeClock(T)
    sink = FlakySink(failures=3)
    mon = Monitor(sink, clock=clock, flush_interval=timedelta(0))
    tries = []
    for step in (0, 0, 1, 0.5, 0.5, 1, 1, 2, 4):  # seconds between calls
        clock.advance(seconds=step)
        assert mon.log(**GOOD) is True
        tries.append(mon.stats.flush_errors)
    assert tries == [1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert sink.rows() == 9 and mon.stats.dropped_rows == 0  # the sink came back: all, once


class HandedOnSink(FlakySink):
    """Fails like Kafka's sink when its producer already holds the rows (resend False)."""

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)
        if self.failures:
            self.failures -= 1
            exc = ConnectionError("not acknowledged yet; kept queued in the producer")
            exc.resend = False  # type: ignore[attr-defined]
            raise exc


def test_rows_the_sink_handed_on_are_not_sent_again():
    """Re-sending rows Kafka's producer still held stored them twice (52 times over in a
    two-minute outage)."""
    sink = HandedOnSink(failures=1)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=HOUR)
    for _ in range(3):
        mon.log(**GOOD)
    with pytest.raises(ConnectionError):
        mon.flush()
    mon.log(**GOOD)
    mon.flush()
    assert sink.rows() == 4  # 3 + 1, not 3 + 3 + 1
    assert mon.stats.flush_errors == 1 and mon.stats.dropped_rows == 0


def test_rows_kept_for_retry_are_bounded_and_the_dropped_ones_counted():
    sink = FlakySink(failures=2)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=HOUR, max_unsent_rows=4)
    for _ in range(2):
        for _ in range(3):
            mon.log(**GOOD)
        with pytest.raises(ConnectionError):
            mon.flush()
    assert mon.stats.dropped_rows == 3  # the oldest failed batch: 6 kept rows > 4
    mon.flush()
    assert sink.rows() == 3


def test_close_raises_when_the_last_flush_fails_and_a_second_close_delivers():
    sink = FlakySink(failures=1)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=HOUR)
    mon.log(**GOOD)
    with pytest.raises(ConnectionError):
        mon.close()
    mon.close()
    assert sink.rows() == 1


# -- 2. infinities and labels ---------------------------------------------------------------
def test_infinite_feature_values_are_special_not_valid():
    ref = build_reference("m", pd.DataFrame({"a": np.arange(100.0)}))
    for references in ({}, {"m": ref}):
        sink = FlakySink()
        mon = Monitor(sink, references, clock=FakeClock(T), flush_interval=HOUR)
        for v in (1.0, 3.0, math.inf, -math.inf):
            mon.log(**{**GOOD, "features": {"a": v}})
        _batch(mon, 3, features={"a": [math.inf, np.nan, 5.0]})
        stats = mon.flush().feature_stats.groupby("feature").sum(numeric_only=True)
        assert stats.loc["a", "valid"] == 3 and stats.loc["a", "specials"] == 4
        assert stats.loc["a", "sum"] == 9.0 and stats.loc["a", "sum_sq"] == 35.0
        for name, frame in sink.batches[0].frames().items():
            _refuse_non_finite(name, frame, TABLES[name].column_names)  # Kafka-safe


def test_values_whose_square_overflows_are_special_so_the_batch_stays_sendable():
    """1e200 is finite, but its square is inf: the sum of squares became inf, the Kafka sink
    refused the whole batch, and the retries kept failing until the rows were dropped."""
    sink = FlakySink()
    mon = Monitor(sink, {}, clock=FakeClock(T), flush_interval=HOUR)
    for v in (1.0, 2.0, 1e200, -1e160):
        mon.log(**{**GOOD, "features": {"a": v}})
    stats = mon.flush().feature_stats.groupby("feature").sum(numeric_only=True)
    assert stats.loc["a", "valid"] == 2 and stats.loc["a", "specials"] == 2
    assert stats.loc["a", "sum_sq"] == 5.0
    for name, frame in sink.batches[0].frames().items():
        _refuse_non_finite(name, frame, TABLES[name].column_names)  # Kafka-safe


@pytest.mark.parametrize(
    "label", [1, 0.5, True, np.True_, np.int64(1), np.float32(0.25), np.uint8(3)]
)
def test_numeric_labels_of_any_numeric_type_are_accepted(label):
    sink = FlakySink()
    mon = Monitor(sink, clock=FakeClock(T))
    assert mon.log_outcome(model="m", request_id="r", label=label)
    assert mon.flush().outcomes["label"].tolist() == [float(label)]


@pytest.mark.parametrize("label", [math.nan, math.inf, -math.inf, np.float64("nan"), "1", None])
def test_non_finite_or_non_numeric_labels_are_parked(label):
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log_outcome(model="m", request_id="r", label=label)
    batch = mon.flush()
    assert len(batch.outcomes) == 0 and mon.stats.parked["bad_label"] == 1
    assert batch.parked[0].reason.startswith("bad_label: label must be")


# -- 3. numeric-looking strings ---------------------------------------------------------------
@pytest.mark.parametrize("with_reference", [True, False])
def test_numeric_looking_strings_stay_strings_and_log_and_log_batch_bin_alike(with_reference):
    zips = ["01234", "10115", "80331", "01234"]
    ref = build_reference("shop", pd.DataFrame({"zip": zips * 25}))
    refs = {"shop": ref} if with_reference else {}
    mon = Monitor(FlakySink(), refs, clock=FakeClock(T), flush_interval=HOUR)
    for z in zips:
        mon.log(model="shop", version="event", features={"zip": z}, score=0.5, latency_ms=1.0)
    mon.log_batch(
        model="shop", version="batch", features={"zip": zips}, score=[0.5] * 4, latency_ms=[1] * 4
    )
    batch = mon.flush()
    kinds = batch.feature_stats.set_index("version")["kind"]
    assert kinds["event"] == kinds["batch"] == "categorical"
    bins = batch.feature_bins.pivot_table(index="label", columns="version", values="count")
    assert bins["event"].tolist() == bins["batch"].tolist()
    if with_reference:
        assert bins["event"].to_dict() == {"01234": 2, "10115": 1, "80331": 1}


# -- 4. request ids ----------------------------------------------------------------------------
def test_anonymous_predictions_are_never_joined_to_an_outcome():
    store = DuckDBStore()
    clock = FakeClock(T)
    for _process in range(2):  # a restart, or two replicas: each would have made up "r0"
        with Monitor(DuckDBSink(store), clock=clock) as mon:
            mon.log(**{**GOOD, "score": 0.9})
            _batch(mon, 1)
    with Monitor(DuckDBSink(store), clock=clock) as mon:
        mon.log(**{**GOOD, "score": 0.1, "request_id": "r0"})
        mon.log_outcome(model="m", request_id="r0", label=0)
    joined = store.outcomes(Scope("m", T_MS - 60_000, T_MS + 60_000))
    assert joined["score"].tolist() == [0.1]
    assert sorted(store._query("SELECT request_id FROM inferences")["request_id"]) == [""] * 4 + [
        "r0"
    ]


@pytest.mark.parametrize(
    ("rids", "stored"),
    [
        ([1, 2], []),
        ([None, "b"], ["", "b"]),
        (["a", 2], ["a"]),
        (["x" * 257, "y"], ["y"]),
        (np.array(["p", "q"]), ["p", "q"]),
    ],
)
def test_log_batch_checks_request_ids_like_log_and_parks_bad_rows(rids, stored):
    mon = Monitor(FlakySink(), clock=FakeClock(T), flush_interval=HOUR)
    assert _batch(mon, request_ids=rids) == len(stored)
    batch = mon.flush()
    assert batch.inferences["request_id"].tolist() == stored
    assert mon.stats.parked["bad_request_id"] == 2 - len(stored) == len(batch.parked)


# -- 5. versions -------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.0.3", "2024-06-01", "3", "v1.0.3", "_rc1"])
def test_release_style_versions_are_accepted_stored_and_queryable(version):
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
    assert mon.log(**{**GOOD, "version": version})
    assert _batch(mon, 2, version=version) == 2
    mon.flush()
    scope = Scope("m", T_MS - 60_000, T_MS + 60_000, version=version)
    assert store.latency(scope)["count"].iloc[0] == 3
    assert store.versions("m") == [version]


@pytest.mark.parametrize("version", ["", "-1", ".1", "1 0", "1;DROP", "1'", "v\n", "x" * 129])
def test_bad_versions_are_parked_with_the_real_rule(version):
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log(**{**GOOD, "version": version})
    reason = mon.flush().parked[0].reason
    assert reason.startswith("bad_version: version must be") and "letter, digit or '_'" in reason
    with pytest.raises(InvalidName, match="letter, digit or '_'"):
        check_name(version, "version")


def test_names_other_than_versions_still_start_with_a_letter():
    assert check_name("1.0.3", "version") == "1.0.3"
    for what in ("model", "feature", "host"):
        with pytest.raises(InvalidName, match="starting with a letter or '_'"):
            check_name("1.0.3", what)
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log(**{**GOOD, "model": "1fraud"})
    assert "starting with a letter or '_'" in mon.flush().parked[0].reason


def test_a_rejected_batch_counts_every_row_and_names_model_and_size():
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert _batch(mon, 1000, version="bad version") == 0
    assert _batch(mon, 1000, features={"a": np.ones(999)}) == 0
    assert mon.stats.parked == {"bad_version": 1000, "bad_batch": 1000}
    parked = mon.flush().parked
    assert all('"model": "m"' in p.event and '"rows": 1000' in p.event for p in parked)
    assert "features['a'] has 999 values, expected 1000" in parked[1].reason


# -- 6. inputs that used to raise ------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"model": ["m"]}, "bad_model"),
        ({"version": {"v": 1}}, "bad_version"),
        ({"host": ["h"]}, "bad_host"),
        ({"features": {("a", "b"): 1.0}}, "bad_feature_name"),
        ({"features": {1: 2.0}}, "bad_feature_name"),
        ({"features": {"a": 1j}}, "bad_feature_value"),
        ({"is_error": np.array([1, 0])}, "bad_is_error"),
        ({"ts": math.inf}, "bad_ts"),
    ],
)
def test_log_parks_inputs_that_used_to_raise(override, reason):
    mon = Monitor(FlakySink(), clock=FakeClock(T), flush_interval=HOUR)
    assert mon.log(**GOOD)
    assert mon.log(**{**GOOD, **override}) is False
    batch = mon.flush()
    assert len(batch.inferences) == 1 and mon.stats.parked == {reason: 1}
    assert batch.parked[0].reason.startswith(reason)


def test_log_outcome_parks_inputs_that_used_to_raise():
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log_outcome(model="m", request_id="r", label=1, ts=math.inf)
    assert not mon.log_outcome(model=["m"], request_id="r", label=1)  # type: ignore[arg-type]
    assert not mon.log_outcome(model="m", request_id="r" * 257, label=1)
    assert mon.log_outcome(model="m", request_id="r", label=1, ts=T)
    assert mon.stats.parked == {"bad_ts": 1, "bad_model": 1, "bad_request_id": 1}


@pytest.mark.parametrize(
    ("override", "accepted", "reason"),
    [
        ({"ts_ms": [T_MS, math.nan]}, 1, "bad_ts"),
        ({"ts_ms": [T_MS, "soon"]}, 1, "bad_ts"),
        ({"score": [0.1, "n/a"]}, 1, "bad_score"),
        ({"score": [0.1, None]}, 1, "bad_score"),
        ({"latency_ms": [1.0, "slow"]}, 1, "bad_latency_ms"),
        ({"features": {"a": [2.0, {"x": 1}]}}, 1, "bad_feature_value"),
        ({"features": {"a": [2.0, [1]]}}, 1, "bad_feature_value"),
    ],
)
def test_log_batch_parks_bad_rows_that_used_to_raise(override, accepted, reason):
    mon = Monitor(FlakySink(), clock=FakeClock(T), flush_interval=HOUR)
    mon.log(**GOOD)
    assert _batch(mon, **override) == accepted
    batch = mon.flush()
    assert len(batch.inferences) == 1 + accepted and mon.stats.parked == {reason: 1}
    assert batch.parked[0].reason.startswith(reason) and '"row": 1' in batch.parked[0].event


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        ({"request_ids": ["only-one"]}, "request_ids has 1 values, expected 2"),
        ({"is_error": [True]}, "is_error has 1 values, expected 2"),
        ({"features": {"a": 3.0}}, "features['a'] must be a 1-D sequence"),
        ({"features": {"a": [[1.0, 2.0], [3.0, 4.0]]}}, "features['a'] must be a 1-D"),
        ({"score": 0.5}, "score must be a 1-D sequence"),
        ({"features": [1.0, 2.0]}, "features must map feature names to columns"),
    ],
)
def test_log_batch_with_a_misshapen_argument_is_parked_whole_naming_it(override, argument):
    mon = Monitor(FlakySink(), clock=FakeClock(T), flush_interval=HOUR)
    mon.log(**GOOD)
    assert _batch(mon, **override) == 0
    batch = mon.flush()
    assert len(batch.inferences) == 1 and mon.stats.parked_total == 2
    assert argument in batch.parked[0].reason


def test_parked_record_of_a_huge_event_is_truncated():
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log(**{**GOOD, "features": {"a": 1.0, "bad name": "x" * 1_000_000}})
    assert len(mon.flush().parked[0].event) < 20_000


# -- 7. counting beyond the parked-record limit -------------------------------------------------
def test_log_batch_counts_bad_rows_by_their_real_reason_beyond_1000():
    n = 3000
    score, lat = np.full(n, np.nan), np.ones(n)
    lat[:500] = -1.0
    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert _batch(mon, n, features={"a": np.ones(n)}, score=score, latency_ms=lat) == 0
    assert mon.stats.parked == {"bad_latency_ms": 500, "bad_score": 2500}
    assert len(mon.flush().parked) == 1000


def test_parked_records_are_strict_json():
    """A parked event with a NaN score was written with a bare NaN, which strict JSON
    parsers of the parked topic reject."""
    import json as strict

    mon = Monitor(FlakySink(), clock=FakeClock(T))
    assert not mon.log(**{**GOOD, "score": math.nan, "features": {"a": math.inf}})
    (parked,) = mon.flush().parked
    event = strict.loads(parked.event, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert event["score"] == "nan"


class GateSink(FlakySink):
    """A sink whose write blocks until the test opens the gate (Kafka waiting out a timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def write(self, batch: EventBatch) -> None:
        self.entered.set()
        assert self.gate.wait(60)
        super().write(batch)


def _log_in_a_thread(mon: Monitor, n: int, wait_s: float = 30.0) -> threading.Thread:
    t = threading.Thread(target=lambda: [mon.log(**GOOD) for _ in range(n)], daemon=True)
    t.start()
    t.join(wait_s)
    return t


def test_background_flushing_never_makes_log_wait_for_the_sink():
    """With the sink stuck in a write, synchronous auto-flushes would block every request
    (30 s per log() call while Kafka was down); the background flusher takes that wait."""
    sink = GateSink()
    mon = Monitor(sink, flush_interval=timedelta(0), background=True, max_buffered=50)
    mon.log(**GOOD)  # wakes the flusher, which blocks in the sink
    assert sink.entered.wait(30)
    writer = _log_in_a_thread(mon, 60)  # joined within 30 s, while the gate holds for 60 s
    assert not writer.is_alive()  # 60 log() calls returned while the sink was blocked
    assert mon.stats.dropped_rows == 10  # beyond max_buffered, counted, memory bounded
    sink.gate.set()
    mon.close()
    assert sink.rows() == 51 and mon._thread is None


def test_synchronous_flushing_does_wait_for_the_sink():
    """The same without background: the request thread is the one that waits (the default,
    and why the README recommends background=True with Kafka)."""
    sink = GateSink()
    mon = Monitor(sink, flush_interval=timedelta(0))
    writer = _log_in_a_thread(mon, 1, wait_s=0.5)
    assert sink.entered.is_set() and writer.is_alive()
    sink.gate.set()
    writer.join(5)
    assert sink.rows() == 1
