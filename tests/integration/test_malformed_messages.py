"""A malformed message on a topic never stops Pinot consuming the good ones.

Garbage bytes, truncated JSON, wrong shapes and wrongly typed values sit between good messages,
sent either as ``{"rows": [...]}`` batches or as plain one-row objects. modelhealth's decoder
drops each bad message, or just the bad row of a batch, and the consuming segment stays
CONSUMING. (Under the former ``fieldsToUnnest`` config, Pinot 0.11 put the segment in ERROR on a
one-row message with ``"score": "high"`` and stopped the partition.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from modelhealth.ingestion.kafka_sink import ROWS_FIELD
from modelhealth.pinot_schemas import topic_name
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.services import pinot
from modelhealth.services.ports import KAFKA_BOOTSTRAP
from modelhealth.services.process import running_pid
from modelhealth.store.pinot import PinotStore

pytestmark = pytest.mark.integration

BASE = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LAST = 20  # request r20 is the last message sent: once it is queryable, all were consumed


def row(i: int, **override: object) -> dict[str, object]:
    good = {
        "ts": BASE + i, "model": "m", "version": "v1", "host": "h", "request_id": f"r{i}",
        "score": 0.5, "latency_ms": 10.0 + i, "is_error": 0,
    }  # fmt: skip
    return {**good, **override}


def one(i: int, **override: object) -> bytes:
    return json.dumps(row(i, **override)).encode()


def batch(*rows: dict[str, object]) -> bytes:
    return json.dumps({ROWS_FIELD: list(rows)}).encode()


#: Every message modelhealth's decoder must drop whole, for both message forms.
BROKEN: tuple[bytes, ...] = (
    b"\x00\xff not json at all \xfe",
    b'{"ts": 12, "model": ',  # truncated
    b"[1, 2, 3]",  # JSON, not an object
    b'{"rows": 5}',
    b'{"rows": "not a list"}',
    b'{"rows": [1, "two", null]}',  # no element is an object
    b'{"rows": [{"ts": 1, "model": ',  # truncated batch
    b'{"rows": []}',
    b'{"unknown": 1}',  # no column of the table
    one(1, latency_ms="fast", score="high"),  # the one-row message that used to stop Pinot
    one(2, ts="yesterday"),
    one(21) + b" trailing junk",
    one(22, is_error=3_000_000_000),  # out of INT range
    one(23, ts=BASE + 23.5),  # fractional LONG
    json.dumps({k: v for k, v in row(25).items() if k != "model"}).encode(),  # no model
    one(26, ts=None),  # stored at the epoch before
    one(27, request_id=None, host=None),  # stored as the text "null" before
)


@dataclass(frozen=True)
class Case:
    form: str  # "batched" | "single": how the good rows are sent
    batched_table: bool  # render_table(batched=...): our decoder, or Pinot's stock one
    messages: tuple[bytes, ...]
    good: dict[str, tuple[float, float, int]]  # request_id -> (latency_ms, score, is_error)


def _ours(form: str) -> Case:
    def good_rows(ids: range) -> list[bytes]:
        if form == "batched":
            return [batch(*[row(i) for i in ids])]
        return [one(i) for i in ids]

    coerced = row(24, score="0.25", ts=str(BASE + 24), is_error=True, latency_ms=34)
    messages = (
        one(0),
        *BROKEN,
        *good_rows(range(3, 10)),
        batch(row(10), row(11, score="high"), row(12)),  # only r11 is lost
        batch(row(28), {k: v for k, v in row(29).items() if k != "version"}),  # only r29
        *good_rows(range(13, 20)),
        batch(coerced) if form == "batched" else json.dumps(coerced).encode(),
        one(LAST),
    )
    good = {f"r{i}": (10.0 + i, 0.5, 0) for i in (0, *range(3, 11), *range(12, 21), 28)}
    good["r24"] = (34.0, 0.25, 1)
    return Case(form, True, messages, good)


def _stock() -> Case:
    """``batched=False``: Pinot's own decoder, one-row messages; bad rows cost one row each."""
    messages = (
        one(0),
        *BROKEN[:3],
        one(1, latency_ms="fast", score="high"),
        one(2, ts="yesterday"),
        *[one(i) for i in range(3, 10)],
        one(LAST),
    )
    good = {f"r{i}": (10.0 + i, 0.5, 0) for i in (0, *range(3, 10), LAST)}
    return Case("single", False, messages, good)


CASES = {"ours-batched": _ours("batched"), "ours-single": _ours("single"), "stock": _stock()}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, jvm_services: None) -> Iterator[tuple[Case, str]]:
    namespace = f"bad{uuid.uuid4().hex[:8]}_"
    spec = CASES[request.param]
    init_pinot(namespace, tables=["inferences"], partitions=1, batched=spec.batched_table)
    try:
        yield spec, namespace
    finally:
        drop_pinot(namespace, tables=["inferences"])


def _produce(topic: str, messages: tuple[bytes, ...]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP)
    try:
        for message in messages:
            producer.send(topic, message).get(timeout=30)
    finally:
        producer.close()


def _rows(store: PinotStore) -> dict[str, tuple[float, float, int]]:
    got = store._query(
        f"SELECT request_id, latency_ms, score, is_error FROM {store.tables['inferences']}"
    )
    return {
        r.request_id: (float(r.latency_ms), float(r.score), int(r.is_error))
        for r in got.itertuples()
    }


def test_malformed_messages_do_not_stop_consumption(case: tuple[Case, str]) -> None:
    spec, namespace = case
    topic = topic_name("inferences", namespace)
    _produce(topic, spec.messages)
    store = PinotStore(namespace=namespace)
    try:
        store.wait_for_rows("inferences", len(spec.good), timeout=90)
        deadline = time.monotonic() + 30
        while f"r{LAST}" not in (got := _rows(store)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert got == spec.good  # every good row exactly once, unchanged; no bad row
        assert store.count("inferences") == len(spec.good)
    finally:
        store.close()
    states = pinot.segment_states(store.tables["inferences"])
    assert list(states.values()) == ["CONSUMING"], states  # one partition, still consuming
    if spec.batched_table:
        _assert_one_short_line_per_drop(topic)


def _assert_one_short_line_per_drop(topic: str) -> None:
    """The decoder logs each drop as one line with running totals, never a record dump."""
    server = next(s for s in pinot.specs() if s.name == pinot.SERVER)
    if running_pid(server.name) is None:  # services not started by modelhealth: no log here
        return
    text = server.log_file.read_text(errors="replace")
    lines = [line for line in text.splitlines() if f"{topic}: dropped" in line]
    assert len(lines) == len(BROKEN) + 1  # each broken message but ``"rows": []``; r11, r29
    assert all(len(line) < 500 and "dropped so far:" in line for line in lines)
    joined = "\n".join(lines)
    assert "not JSON" in joined and "'rows' is not a list" in joined
    assert "column 'score' expects DOUBLE, got \"high\"" in joined
    assert "dropped 1 of 3 rows" in joined and "row 1: column 'score'" in joined
    assert (
        "required column 'model' is missing" in joined and "required column 'ts' is null" in joined
    )
    assert (
        "dropped 1 of 2 rows" in joined and "row 1: required column 'version' is missing" in joined
    )
    assert lines[-1].endswith(f"[dropped so far: {len(BROKEN) - 1} messages, 13 rows]")
    assert "StackOverflowError" not in text
