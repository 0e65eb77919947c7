"""A flush reads the buffered events a bounded chunk at a time (s28c).

The flush runs in the model server's process, on the background flusher or on a request
thread, while other request threads call ``log()``; CPython runs one thread's Python at a
time and a C-level call holds the GIL until it returns. The flush of a 50,000-event buffer
converted it with a few whole-buffer numpy calls (``np.array`` of every event's feature
tuple: 40 ms), so a ``log()`` on another thread waited that long (benchmarks/sdk_outage.py:
14-80 ms calls). Now no numpy call reads more than ``batching.CHUNK_ROWS`` buffered
objects, the flush releases the GIL between chunks, and what reaches the store is what the
whole-buffer conversion made. No timings here (speed lives in the benchmarks): the tests
watch what each numpy call is handed, and compare stored tables.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

BASE_MS = 1_767_225_600_000
BOUND = 5_000
"""At most this many buffered objects per numpy call (the chunk is 4,096)."""


class KeepSink:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def write(self, batch: EventBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass


def _log_events(mon: Monitor, n: int, *, models: int = 1) -> None:
    for i in range(n):
        features = {f"f{j}": float((i * 7 + j) % 101) / 3 for j in range(6)}
        features["country"] = "DEFR"[i % 4 : i % 4 + 2]
        features["age"] = i % 90
        mon.log(
            model=f"m{i % models}",
            version="v1",
            features=features,
            score=0.25,
            latency_ms=float(i % 13),
            request_id=f"r-{i}",
            ts=BASE_MS + i * 11,
        )


class _NumpySpy:
    """Records how many Python objects each ``np.array``/``np.asarray``/``np.fromiter`` call
    of the flush was handed (a list or tuple's length, ``fromiter``'s count). Every module
    calls them through ``np.<name>``, so patching the numpy module sees them all."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[tuple[str, int]] = []
        self.on = False
        for name in ("array", "asarray", "fromiter"):
            monkeypatch.setattr(np, name, self._wrap(name, getattr(np, name)))

    def _wrap(self, name: str, real: object) -> object:
        def spy(obj: object, *args: object, **kwargs: object) -> object:
            if self.on:
                if name == "fromiter":
                    count = kwargs.get("count", args[1] if len(args) > 1 else -1)
                    self.sizes.append((name, int(count)))  # type: ignore[call-overload]
                elif isinstance(obj, list | tuple):
                    self.sizes.append((name, len(obj)))
            return real(obj, *args, **kwargs)  # type: ignore[operator]

        return spy


def test_no_numpy_call_of_a_flush_reads_more_than_a_chunk_of_the_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20,000 buffered events: the old flush handed numpy all of them at once (a 20,000 x 8
    object grid, 20,000-long fromiter per field), each call holding the GIL throughout."""
    spy = _NumpySpy(monkeypatch)
    sink = KeepSink()
    mon = Monitor(sink, max_batch=100_000)
    _log_events(mon, 20_000)
    spy.on = True
    mon.flush()
    spy.on = False
    assert sink.batches and len(sink.batches[0].inferences) == 20_000
    too_big = [(name, n) for name, n in spy.sizes if n > BOUND or n < 0]
    assert not too_big, f"numpy calls reading more than {BOUND:,} buffered objects: {too_big}"
    assert sum(n for name, n in spy.sizes if name == "fromiter") >= 20_000  # it did read them


def test_no_numpy_call_reads_more_than_a_chunk_with_several_models_and_new_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other paths: events of several models (grouped per model) and a feature first
    logged mid-buffer (rows lacking it read one by one)."""
    spy = _NumpySpy(monkeypatch)
    sink = KeepSink()
    mon = Monitor(sink, max_batch=100_000)
    _log_events(mon, 12_000, models=3)
    for i in range(12_000):
        features = {"a": float(i), "b": "xy"[i % 2]} if i % 2 else {"a": float(i)}
        mon.log(model="m9", version="v1", features=features, score=0.5, latency_ms=1.0)
    spy.on = True
    mon.flush()
    spy.on = False
    assert sum(len(b.inferences) for b in sink.batches) == 24_000
    too_big = [(name, n) for name, n in spy.sizes if n > BOUND or n < 0]
    assert not too_big, f"numpy calls reading more than {BOUND:,} buffered objects: {too_big}"


def test_the_flush_releases_the_gil_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two chunks the flush calls ``batching.pause`` (``time.sleep(0)``: a request
    thread waiting for the GIL runs then, not after the switch interval)."""
    from modelhealth.ingestion import batching

    pauses: list[int] = []
    monkeypatch.setattr(batching, "CHUNK_ROWS", 1_000)
    monkeypatch.setattr(batching, "pause", lambda: pauses.append(1))
    mon = Monitor(KeepSink(), max_batch=100_000)
    _log_events(mon, 10_000)
    mon.flush()
    assert len(pauses) >= 9  # at least once between every two of the ten chunks


def test_kafka_encoding_makes_the_row_dicts_of_one_message_at_a_time() -> None:
    """The Kafka sink made a dict per row of the whole batch before encoding any message:
    20,000 live dicts set off collections as they piled up (a full one walks every object of
    the process: 50 ms), the GIL held meanwhile. Now each message's dicts are made when it
    is encoded and freed after. The messages are the same bytes (checked against the old
    encoder when this changed; here: every row once, in order)."""
    from modelhealth.ingestion.kafka_sink import KafkaSink

    sink = KeepSink()
    mon = Monitor(sink, max_batch=100_000)
    _log_events(mon, 20_000, models=2)
    mon.flush()
    batch = sink.batches[0]
    kafka = KafkaSink("127.0.0.1:1")  # never connects: only encodes
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(700, 10, 10)  # CPython's defaults, whatever the suite set
    gc.callbacks.append(count)
    try:
        messages = kafka._encode(batch)
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*thresholds)
    # one dict per row alive at once: about one collection per 700 rows (28 here)
    assert len(collections) <= 5, collections
    rows = [r for m in messages if m.topic.endswith("inferences") for r in _rows(m.value)]
    assert sorted(r["request_id"] for r in rows) == sorted(batch.inferences["request_id"])
    for model in ("m0", "m1"):
        mine = [r["request_id"] for r in rows if r["model"] == model]
        want = batch.inferences.loc[batch.inferences["model"] == model, "request_id"].tolist()
        assert mine == want


def _rows(value: bytes) -> Iterator[dict[str, object]]:
    from modelhealth.ingestion.kafka_sink import ROWS_FIELD

    yield from json.loads(value)[ROWS_FIELD]


# -- the same rows stored, whatever the chunks -------------------------------------------------


def _varied_run(chunk_rows: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A varied stream logged to a real DuckDB store with ``chunk_rows`` events per chunk:
    several models, hosts and buckets out of order; ints among floats, bools then ints,
    ints beyond int64, strings among numbers, None, NaN, a NUL in a category, features first
    logged mid-stream or missing from some events; anonymous events; a parked one; and
    ``log_batch`` blocks with mixed categorical values. Every table, sorted."""
    from modelhealth.ingestion import batching

    monkeypatch.setattr(batching, "CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(7)
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    ref_frame = pd.DataFrame(
        {
            "a": rng.normal(size=300),
            "c": rng.choice(["x", "y", "z"], 300),
            "i": rng.integers(0, 5, 300),
        }
    )
    ref = build_reference("m1", ref_frame)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m1": ref}, max_batch=4_000, clock=clock)
    cats = ["x", "y", "z", "w", "", "DE\x00j"]
    logged = 0
    for i in range(9_000):
        model = "m1" if i % 7 else "m2"
        f: dict[str, object] = {"a": float(rng.normal()), "c": cats[i % 6]}
        if model == "m1":
            f["i"] = i % 5
        if i % 13 == 0:
            f["a"] = None
        if i % 17 == 0:
            f["a"] = math.nan
        if i % 29 == 0:
            f["a"] = 1  # an int among floats
        if i % 19 == 0:
            f.pop("c")
        if i > 3_000:
            f["late"] = bool(i % 2) if i < 6_000 else i % 3
        if 5_000 < i < 5_010:
            f["big"] = 2**70 + i
        if i % 101 == 0:
            f["mixed"] = "s" if i % 2 else 1.5
        mon.log(
            model=model,
            version="v1" if i % 11 else "v2",
            features=f,
            score=(i % 10) / 10,
            latency_ms=float(i % 50),
            request_id=None if i % 23 == 0 else f"r-{i}",
            host="h1" if i % 3 else "h2",
            ts=BASE_MS + (i * 997) % 400_000 + (i // 1000) * 60_000,
            is_error=i % 31 == 0,
        )
        logged += 1
    mon.log(model="m1", version="v1", features={"a": 1.0}, score=math.nan, latency_ms=1.0)
    logged += 1
    pool = np.array(
        ["x", "y", 1, 1.0, True, None, math.nan, "", "DE\x00j", "DE\ufffdj", 101, "101"],
        dtype=object,
    )
    m = 12_000
    mon.log_batch(
        model="m3",
        version="v1",
        features={"k": pool[rng.integers(0, len(pool), m)], "z": rng.normal(size=m)},
        score=rng.random(m),
        latency_ms=rng.random(m),
        ts_ms=BASE_MS + np.arange(m) * 13,
    )
    logged += m
    mon.close()
    out: dict[str, object] = {}
    for table in ("inferences", "feature_stats", "feature_bins", "parked_events"):
        frame = store._query(f"SELECT * FROM {table}")
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    stored = len(out["inferences"])  # type: ignore[arg-type]
    st = mon.stats
    dropped = st.dropped_by_table.get("inferences", 0)
    assert stored + dropped + st.parked_total == logged
    out["stats"] = (st.accepted, dict(st.parked), st.dropped_rows, st.flushes)
    return out


def test_the_store_holds_the_same_rows_whatever_the_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One chunk per buffer (what the whole-buffer flush did) against chunks of 7 events
    (boundaries everywhere: a column's types, a feature's first row, a group's key, a
    category's first value all fall in different chunks): every stored table is identical."""
    whole = _varied_run(10**9, monkeypatch)
    chunked = _varied_run(7, monkeypatch)
    assert whole["stats"] == chunked["stats"]
    for table in ("inferences", "feature_stats", "feature_bins", "parked_events"):
        pd.testing.assert_frame_equal(whole[table], chunked[table], check_exact=True)  # type: ignore[arg-type]
    stats = whole["feature_stats"]
    assert len(whole["inferences"]) == 21_000  # type: ignore[arg-type]
    assert {"late", "big", "mixed", "k"} <= set(stats["feature"])  # type: ignore[index]
