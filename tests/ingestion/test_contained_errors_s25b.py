"""Nothing a model server passes, and nothing its sink raises, reaches the request.

Validation parks every malformed input it knows of, but objects of the server's own types
can fail in ways no check expects: a float subclass whose ``__float__`` raises, a name whose
``__hash__`` does, a mapping that cannot be iterated, a sink error whose attributes cannot
be read. Such an exception used to propagate out of ``log()`` (or lose every event
buffered with the bad value at the next flush). Now the event is counted
(``stats.unexpected_errors``) and parked as ``unexpected_error``, at most one log line a
minute says so, and the call returns normally; KeyboardInterrupt and SystemExit still
propagate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
GOOD = {"model": "m", "version": "v1", "features": {"a": 1.0}, "score": 0.5, "latency_ms": 1.0}
LOGGER = "modelhealth.ingestion.sdk"


class Boom(Exception):
    """An exception type of the model server's own, unknown to the SDK."""


class BadFloat(float):
    """Passes as a float; fails when read as one."""

    def __float__(self) -> float:
        raise Boom("no float")


class BadHash(str):
    """Passes as a string; fails when hashed or compared."""

    def __hash__(self) -> int:
        raise Boom("no hash")

    def __eq__(self, other: object) -> bool:
        raise Boom("no eq")


class BadBool:
    def __bool__(self) -> bool:
        raise Boom("no bool")


class BadMapping(Mapping[str, object]):
    """A mapping whose iteration fails."""

    def __getitem__(self, key: str) -> object:
        raise Boom("no item")

    def __iter__(self) -> Iterator[str]:
        raise Boom("no iter")

    def __len__(self) -> int:
        return 1


class Interrupting(float):
    def __float__(self) -> float:
        raise KeyboardInterrupt


class Recorder:
    """A healthy sink keeping every batch."""

    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def ids(self) -> list[str]:
        return [r for b in self.batches for r in b.inferences["request_id"]]

    def parked(self) -> list[str]:
        return [p.reason for b in self.batches for p in b.parked]


def _monitor(sink: Recorder | None = None, **kwargs: object) -> Monitor:
    return Monitor(sink or Recorder(), clock=FakeClock(T), flush_interval=HOUR, **kwargs)


# -- log() and log_outcome() --------------------------------------------------------------
@pytest.mark.parametrize(
    "override",
    [
        {"score": BadFloat(0.5)},
        {"latency_ms": BadFloat(1.0)},
        {"ts": BadFloat(1.7e9)},
        {"model": BadHash("m")},
        {"host": BadBool()},
        {"is_error": BadBool()},
        {"features": BadMapping()},
    ],
    ids=["score", "latency", "ts", "model", "host", "is_error", "features"],
)
def test_log_parks_an_event_whatever_its_arguments_raise(override: dict[str, object]) -> None:
    """The call returns False, the event is counted and parked with the exception named,
    and the events around it are written."""
    mon = _monitor()
    assert mon.log(**GOOD, request_id="before")
    assert mon.log(**{**GOOD, **override}, request_id="bad") is False
    assert mon.log(**GOOD, request_id="after")
    mon.flush()
    sink: Recorder = mon.sink  # type: ignore[assignment]
    assert sink.ids() == ["before", "after"]
    assert mon.stats.unexpected_errors == 1 and mon.stats.parked == {"unexpected_error": 1}
    (reason,) = sink.parked()
    assert reason.startswith("unexpected_error: log() raised Boom: no ")
    assert mon.stats.last_unexpected_error.startswith("log: Boom: no ")


@pytest.mark.parametrize("value", [BadFloat(2.0), BadHash("x")], ids=["float", "hash"])
def test_a_feature_value_that_fails_when_read_is_parked_alone(value: object) -> None:
    """Such a value passed as a number or string and failed the flush: every event
    buffered with it was lost as aggregate_error. Now it is parked when logged."""
    mon = _monitor()
    assert mon.log(**GOOD, request_id="before")
    assert mon.log(**{**GOOD, "features": {"a": 1.0, "c": value}}, request_id="bad") is False
    mon.flush()
    sink: Recorder = mon.sink  # type: ignore[assignment]
    assert sink.ids() == ["before"] and mon.stats.parked == {"bad_feature_value": 1}
    (reason,) = sink.parked()
    assert "raised Boom: no " in reason and type(value).__name__ in reason


def test_log_outcome_parks_a_label_that_fails_when_read() -> None:
    mon = _monitor()
    assert mon.log_outcome(model="m", request_id="r1", label=BadFloat(1.0)) is False
    assert mon.log_outcome(model=BadHash("m"), request_id="r2", label=1) is False
    assert mon.log_outcome(model="m", request_id="r3", label=1)
    batch = mon.flush()
    assert list(batch.outcomes["request_id"]) == ["r3"]
    assert mon.stats.parked == {"unexpected_error": 2} and mon.stats.unexpected_errors == 2


def test_keyboard_interrupt_and_system_exit_are_not_swallowed() -> None:
    mon = _monitor()
    with pytest.raises(KeyboardInterrupt):
        mon.log(**{**GOOD, "score": Interrupting(0.5)})

    class Exiting(float):
        def __float__(self) -> float:
            raise SystemExit(3)

    with pytest.raises(SystemExit):
        mon.log_outcome(model="m", request_id="r", label=Exiting(1.0))
    assert mon.stats.unexpected_errors == 0


def test_contained_errors_are_logged_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server sending the same bad object with every request logs one line (with the
    traceback), not one per request; every event is still counted."""
    mon = _monitor()
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        for _ in range(200):
            assert mon.log(**{**GOOD, "score": BadFloat(0.5)}) is False
    lines = [r for r in caplog.records if "unexpected_error" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is not None
    assert mon.stats.unexpected_errors == 200 and mon.stats.parked == {"unexpected_error": 200}


def test_an_event_that_cannot_even_be_parked_is_counted_as_dropped() -> None:
    """A clock that fails leaves no time to park the event with: it is counted in
    dropped_rows, and the reason kept in last_unexpected_error."""

    class BrokenClock(FakeClock):
        def now(self) -> datetime:
            raise Boom("no time")

    mon = Monitor(Recorder(), clock=BrokenClock(T), flush_interval=HOUR)
    assert mon.log(**GOOD) is False
    assert mon.log_outcome(model="m", request_id="r", label=1) is False
    assert mon.log_batch(**_columns(3)) == 0
    assert mon.stats.dropped_by_table == {"inferences": 4, "outcomes": 1}
    assert mon.stats.dropped_rows == 5 and mon.stats.unexpected_errors == 3
    assert "Boom: no time" in mon.stats.last_unexpected_error


# -- log_batch() --------------------------------------------------------------------------
def _columns(n: int, **override: object) -> dict[str, object]:
    args: dict[str, object] = {
        "model": "m",
        "version": "v1",
        "features": {"a": [float(i) for i in range(n)]},
        "score": [0.5] * n,
        "latency_ms": [1.0] * n,
        "request_ids": [f"r{i}" for i in range(n)],
    }
    return {**args, **override}


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"score": [0.5, BadFloat(0.5), 0.5]}, "bad_score"),
        ({"latency_ms": [1.0, BadFloat(1.0), 1.0]}, "bad_latency_ms"),
        ({"ts_ms": [1.7e12, BadFloat(1.7e12), 1.7e12]}, "bad_ts"),
        ({"features": {"a": [1.0, BadFloat(2.0), 3.0]}}, "bad_feature_value"),
        ({"features": {"c": ["x", BadHash("y"), "z"]}}, "bad_feature_value"),
    ],
    ids=["score", "latency", "ts", "float-feature", "hash-feature"],
)
def test_log_batch_parks_only_the_row_holding_a_value_that_fails(
    override: dict[str, object], reason: str
) -> None:
    """The row is parked under the check it fails, the other rows are written: the batch
    raised out of log_batch, or was lost whole as aggregate_error."""
    mon = _monitor()
    assert mon.log_batch(**_columns(3, **override)) == 2
    mon.flush()
    sink: Recorder = mon.sink  # type: ignore[assignment]
    assert sink.ids() == ["r0", "r2"] and mon.stats.parked == {reason: 1}
    assert mon.stats.unexpected_errors == 0 and mon._reserved_rows == 0


@pytest.mark.parametrize(
    "override",
    [{"is_error": [False, BadBool(), False]}, {"model": BadHash("m")}, {"host": BadBool()}],
    ids=["is_error", "model", "host"],
)
def test_log_batch_that_raises_unexpectedly_is_parked_whole(override: dict[str, object]) -> None:
    """Every row is counted as parked, nothing stays reserved against max_buffered (a
    failing batch shrank the bound for good), and the next batch goes through."""
    mon = _monitor(max_buffered=3, background=False)
    assert mon.log_batch(**_columns(3, **override)) == 0
    assert mon.stats.parked == {"unexpected_error": 3} and mon.stats.unexpected_errors == 1
    assert mon._reserved_rows == 0
    assert mon.log_batch(**_columns(3)) == 3


# -- the sink -----------------------------------------------------------------------------
class UnreadableError(Exception):
    """A sink error whose text and ``unsent`` rows cannot be read."""

    def __str__(self) -> str:
        raise Boom("no text")

    @property
    def unsent(self) -> list[EventBatch]:
        raise Boom("no unsent")


class OddLostError(Exception):
    lost = "many"


class OnceFailing(Recorder):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error: Exception | None = error

    def write(self, batch: EventBatch) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error
        super().write(batch)


@pytest.mark.parametrize(
    "error", [UnreadableError(), OddLostError("down")], ids=["unreadable", "lost-not-a-number"]
)
def test_rows_of_a_sink_error_that_cannot_be_read_are_kept(error: Exception) -> None:
    """Reading the error raised inside its handler: the batch was neither kept nor
    counted, and flush_errors stayed 0. Now it is kept whole for the next flush."""
    sink = OnceFailing(error)
    mon = Monitor(sink, clock=FakeClock(T), flush_interval=timedelta(0))
    assert mon.log(**GOOD, request_id="r1")  # its automatic flush fails
    assert mon.stats.flush_errors == 1 and mon.stats.last_flush_error
    mon.flush()
    assert sink.ids() == ["r1"] and mon.stats.dropped_rows == 0


class Fatal(BaseException):
    """Raised by a sink that is not an Exception (a green-thread timeout, say)."""


def _wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_background_flusher_survives_whatever_the_sink_raises() -> None:
    """A BaseException from the sink ended the flusher thread: every later row waited,
    then was refused as if the sink failed, for ever. Now the rows are kept and the next
    flush writes them."""
    sink = OnceFailing(Fatal())  # type: ignore[arg-type]
    mon = Monitor(sink, background=True, flush_interval=timedelta(milliseconds=20))
    try:
        assert mon.log(**GOOD, request_id="r1")
        assert _wait_for(lambda: mon.stats.flush_errors == 1)
        assert mon.log(**GOOD, request_id="r2")
        assert _wait_for(lambda: sink.ids() == ["r1", "r2"], timeout_s=10), sink.ids()
        assert mon._thread is not None and mon._thread.is_alive()
        assert mon.stats.unexpected_errors == 1
    finally:
        mon.close()


def test_log_is_thread_safe_while_errors_are_contained() -> None:
    """Threads logging good and bad events at once: every event is accepted or parked,
    and the buffer lock is never left held."""
    mon = _monitor()

    def work(bad: bool) -> None:
        for _ in range(200):
            mon.log(**{**GOOD, "score": BadFloat(0.5)} if bad else GOOD)

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert mon.stats.accepted == 600 and mon.stats.parked == {"unexpected_error": 600}
    assert not mon._lock.locked()
    assert len(mon.flush().inferences) == 600
