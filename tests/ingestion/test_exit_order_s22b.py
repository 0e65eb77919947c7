"""Exit order with a Kafka sink, without a broker: a stand-in producer that, like
kafka-python's, registers an exit hook closing itself when it is made.

The SDK's exit hook (registered at import) ran after that hook, so a Monitor's last rows
met a closed producer and were lost. ``tests/integration/test_exit_flush_kafka_s22b.py``
checks the same against a real broker; this one runs where no JVM is installed.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import KafkaSink

FAKE_KAFKA = """
import atexit, json, weakref
import kafka


class Sent:
    is_done = True
    exception = None

    def succeeded(self):
        return True


class ExitClosingProducer:
    \"\"\"Sends by appending to a file; closes itself at exit, as kafka-python's does.\"\"\"

    DEFAULT_CONFIG = dict(kafka.KafkaProducer.DEFAULT_CONFIG)
    out = None

    def __init__(self, **config):
        self.config = dict(config)
        self.closed = False
        me = weakref.proxy(self)

        def cleanup():
            try:
                me.close(timeout=1)
            except ReferenceError:
                pass

        self._cleanup = cleanup
        atexit.register(cleanup)

    def send(self, topic, value=None, key=None):
        if self.closed:
            raise kafka.errors.IllegalStateError("KafkaProducer already closed!")
        with open(self.out, "a") as f:
            f.write(json.dumps({"topic": topic, "value": json.loads(value)}) + "\\n")
        return Sent()

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        atexit.unregister(self._cleanup)
        self.closed = True


kafka.KafkaProducer = ExitClosingProducer
"""

SERVER = """
import sys
from datetime import timedelta
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.kafka_sink import KafkaSink

ExitClosingProducer.out = sys.argv[1]
mon = Monitor(KafkaSink("127.0.0.1:1", namespace="t_"), flush_interval=timedelta(hours=1),
              background=sys.argv[2] == "1")
for i in range(3):
    mon.log(model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0,
            request_id=f"early{i}")
mon.flush()  # the producer is made: its exit hook is registered now
for i in range(4):
    mon.log(model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0,
            request_id=f"late{i}")
# exits without close()
"""


def _sent_ids(path: Path, topic: str) -> Counter[str]:
    got: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        message = json.loads(line)
        if message["topic"] == topic:
            got.update(row["request_id"] for row in message["value"]["rows"])
    return got


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_rows_buffered_at_exit_are_sent_before_the_producer_closes(
    tmp_path: Path, background: bool
) -> None:
    out = tmp_path / "sent.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", FAKE_KAFKA + SERVER, str(out), str(int(background))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    expected = {f"early{i}": 1 for i in range(3)} | {f"late{i}": 1 for i in range(4)}
    assert _sent_ids(out, "modelhealth.t_inferences") == expected, proc.stderr
    assert "lost" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


class _Producer:
    """In-process stand-in: takes everything, registers nothing."""

    DEFAULT_CONFIG: ClassVar[dict[str, object]] = {}

    def __init__(self, **config: object) -> None:
        self.config = dict(config)

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> object:
        class Sent:
            is_done = True
            exception = None

            def succeeded(self) -> bool:
                return True

        return Sent()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def test_the_exit_hook_keeps_neither_sink_nor_monitor_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook a sink registers when it makes a producer holds the sink weakly: a Monitor
    and its sink dropped by their owner (never closed) are collected."""
    import kafka

    monkeypatch.setattr(kafka, "KafkaProducer", _Producer)
    sink = KafkaSink("127.0.0.1:1")
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    mon.log(model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0)
    mon.flush()
    assert sink._producer is not None and sink._exit_hook is not None
    refs = weakref.ref(sink), weakref.ref(mon)
    del sink, mon
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_the_exit_hook_moves_after_each_producer_and_goes_with_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registered when the sink is made (so a producer made at exit waits at most
    ``exit_timeout_ms``), again after each producer, and unregistered by ``close()``."""
    import atexit

    import kafka

    monkeypatch.setattr(kafka, "KafkaProducer", _Producer)
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", registered.remove)
    sink = KafkaSink("127.0.0.1:1")
    first = sink._exit_hook
    sink.write(EventBatch())  # nothing to send: no producer yet
    assert registered == [first] and first is not None
    mon = Monitor(sink, flush_interval=timedelta(hours=1))
    mon.log(model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0)
    mon.flush()  # the producer is made: the hook moves after the one it would register
    assert registered == [sink._exit_hook] and sink._exit_hook is not first
    mon.close()
    assert registered == [] and sink._exit_hook is None
