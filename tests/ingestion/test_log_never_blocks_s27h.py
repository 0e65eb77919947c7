"""``Monitor.log()`` never stalls a model server, even while the sink is down.

The "rare 267 ms ``log()`` spike during a Kafka outage" was the garbage collector: every
event buffered while the background flusher was stuck on Kafka was a tracked object (a
dataclass instance), so a full collection, triggered by whichever call allocated, walked
them all inside that call: 170 ms with 150,000 events buffered, growing with the buffer
(``max_buffered``, 500,000 by default; ``benchmarks/sdk_outage.py``). The buffers now hold
plain tuples and scalar dicts, which the collector does not track, and the flush builds no
object per event either. No lock the sink's I/O holds is ever taken by ``log()``
(``background=True``); those tests are guards.
"""

from __future__ import annotations

import gc
import socket
import threading
import time

import pytest

from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import KafkaSink, KafkaSinkError


def _event(i: int) -> dict[str, object]:
    return {
        "model": "m",
        "version": "v1",
        "features": {"amount": float(i % 97), "age": i % 80, "country": "DE" if i % 3 else "FR"},
        "score": 0.5,
        "latency_ms": 3.0,
        "request_id": f"r-{i}",
    }


class BlockedSink:
    """A sink whose write blocks until the test opens the gate (Kafka waiting out its
    ``max_block_ms`` while the broker is gone); counts the inference rows it took."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.rows = 0

    def write(self, batch: EventBatch) -> None:
        self.entered.set()
        assert self.gate.wait(60)
        self.rows += len(batch.inferences)

    def close(self) -> None:
        pass


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_buffered_events_are_not_walked_by_the_garbage_collector() -> None:
    """The cause of the spike: 20,000 buffered events were 20,000 more objects every full
    collection walked (a dataclass instance each); now the count does not grow with them."""
    sink = BlockedSink()
    sink.gate.set()  # a healthy sink here
    mon = Monitor(sink, max_batch=10**6, max_buffered=10**6)
    before = _tracked()
    for i in range(20_000):
        assert mon.log(**_event(i))
    grown = _tracked() - before
    assert grown < 1_000, f"{grown} more objects tracked by the GC with 20,000 events buffered"
    batch = mon.flush()  # and they still flush whole
    assert len(batch.inferences) == 20_000 and sink.rows == 20_000
    assert batch.inferences["request_id"].iloc[-1] == "r-19999"


def test_flushing_a_big_buffer_makes_no_tracked_object_per_event() -> None:
    """The flusher's own allocations trigger collections too (holding the GIL the request
    threads need): building a batch must not make an object per event that survives."""
    mon = Monitor(BlockedSink(), max_batch=10**6, max_buffered=10**6)
    for i in range(20_000):
        mon.log(**_event(i))
    grown: list[int] = []

    def aggregate(*args: object, **kwargs: object) -> EventBatch:
        grown.append(len(gc.get_objects()) - before)  # mid-flush: what it built is alive
        return EventBatch()

    mon._aggregate = aggregate  # type: ignore[method-assign]
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        mon.flush()
    finally:
        gc.enable()
    assert grown and max(grown) < 1_000, grown


def test_log_returns_at_once_while_the_sink_blocks_and_counts_every_event() -> None:
    """Guard: the flusher is stuck in the sink for the whole run; every call returns far
    sooner than that (bound relative to how long the sink blocks, robust on a loaded box),
    the buffers stay bounded, and logged == written + dropped once the sink is back."""
    sink = BlockedSink()
    mon = Monitor(sink, background=True, max_batch=2_000, max_buffered=10_000)
    n, worst, logged = 30_000, 0.0, 0
    t0 = time.perf_counter()
    for i in range(n):
        if i == 2_500:
            assert sink.entered.wait(10)  # the flusher is in the sink from here on
        s = time.perf_counter()
        mon.log(**_event(i))
        worst = max(worst, time.perf_counter() - s)
        logged += 1
    blocked_s = time.perf_counter() - t0  # the sink blocked at least this long (gate shut)
    assert not sink.gate.is_set() and sink.rows == 0
    assert worst < blocked_s / 4, f"a log() call took {worst:.3f}s of the {blocked_s:.3f}s"
    dropped = mon.stats.dropped_by_table["inferences"]
    assert dropped >= n - 2 * 10_000  # bounded: the flusher holds one batch, the buffers 10k
    sink.gate.set()
    mon.close()
    assert sink.rows + dropped + mon.stats.parked_total == logged
    assert mon.stats.accepted == sink.rows


def test_a_real_kafka_producer_on_a_dead_port_never_holds_up_log() -> None:
    """Guard with kafka-python itself: the flusher waits ``max_block_ms`` for a broker that
    is not there, again after each back-off, while the calls go on; nothing is lost
    uncounted (kept for retry or counted as dropped)."""
    block_ms = 2_000
    sink = KafkaSink(f"127.0.0.1:{_dead_port()}", max_block_ms=block_ms)
    mon = Monitor(sink, background=True, max_batch=1_000, max_buffered=5_000)
    n, worst = 0, 0.0
    deadline = time.monotonic() + 2.5 * block_ms / 1000  # spans a failed connect and a retry
    while time.monotonic() < deadline or mon.stats.flush_errors == 0:
        s = time.perf_counter()
        mon.log(**_event(n))
        worst = max(worst, time.perf_counter() - s)
        n += 1
        if n % 100 == 0:
            time.sleep(0.001)  # a request rate, not a spin: let the flusher run
        assert time.monotonic() < deadline + 30, "the flusher never failed"
    assert worst < block_ms / 1000 / 4, f"a log() call took {worst:.3f}s"
    with pytest.raises(KafkaSinkError):
        mon.close()  # waits out Kafka once more, then hands the rows back
    kept = sum(len(b.inferences) for b in mon._unsent) + len(mon._events)
    dropped = mon.stats.dropped_by_table["inferences"]
    assert kept + dropped == n, (kept, dropped, n)  # (dropped: refused, or cut from kept)
    mon._exit_tried = True  # Kafka stays down: no flush at exit
    sink._closed = True


def test_without_background_only_the_thread_that_flushes_waits_for_the_sink() -> None:
    """``background=False`` (the default): the request thread whose ``log()`` triggers the
    automatic flush waits for the sink (documented), but the others did too: each found the
    flush due and queued on the flush lock the waiting thread held over the sink's I/O, for
    as long as the sink blocked (Kafka: ``max_block_ms``), then flushed again itself. Now
    they return at once; their rows wait, bounded, for the next flush, all counted."""
    sink = BlockedSink()
    mon = Monitor(sink, max_batch=100, max_buffered=2_000)
    flusher = threading.Thread(target=lambda: [mon.log(**_event(i)) for i in range(100)])
    flusher.start()  # its 100th log() flushes and blocks in the sink
    assert sink.entered.wait(10)
    done, worst = threading.Event(), [0.0]

    def request_thread() -> None:
        for i in range(100, 5_100):
            s = time.perf_counter()
            mon.log(**_event(i))
            worst[0] = max(worst[0], time.perf_counter() - s)
        done.set()

    other = threading.Thread(target=request_thread, daemon=True)
    t0 = time.perf_counter()
    other.start()
    finished = done.wait(20)
    blocked_s = time.perf_counter() - t0
    still_blocked = not sink.gate.is_set() and flusher.is_alive()
    sink.gate.set()
    flusher.join(10)
    other.join(10)
    assert finished and still_blocked, "a request thread waited for another one's flush"
    assert worst[0] < blocked_s / 4 + 0.5
    dropped = mon.stats.dropped_by_table["inferences"]
    assert dropped >= 5_000 - 2_000  # bounded while the other thread's flush ran
    mon.close()
    assert sink.rows + dropped == 5_100
