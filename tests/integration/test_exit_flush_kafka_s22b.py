"""A model server that exits without ``close()`` still delivers its last rows to Kafka.

The SDK closes every Monitor still holding rows at interpreter exit, but with a Kafka sink
those rows were lost: kafka-python registers an exit hook of its own when the producer is
made (at the sink's first write), atexit runs the newest hook first, so the producer was
closed before the SDK's hook (registered at import) flushed into it, and the flush failed
with "KafkaProducer already closed". Each test runs the server in a subprocess that flushes
once (the producer exists from then on), logs more, and exits; then reads the topic back.

The broker is this module's own, on free ports and in its own run directory, stopped at the
end. Only Kafka's jars are fetched (``own_services_env`` would fetch Pinot's and build its
decoder too, which nothing here needs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from modelhealth.ingestion.kafka_sink import ROWS_FIELD
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import parked_topic, topic_name
from modelhealth.services import ports
from tests.conftest import free_port
from tests.integration.conftest import PORT_ENV, OwnKafka, use_ports

pytestmark = pytest.mark.integration

_IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

SERVER = """
import sys
from datetime import timedelta
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.kafka_sink import KafkaSink

bootstrap, namespace, background, wait_for_parent = sys.argv[1:5]
sink = KafkaSink(bootstrap, namespace=namespace, max_block_ms=20_000, exit_timeout_ms=3_000)
# no automatic flush: what is logged after flush() waits for the exit
mon = Monitor(sink, background=background == "1", flush_interval=timedelta(hours=1))


def log(rid, label=None):
    mon.log(model="m", version="v1", features={"a": 1.0, "c": "x"}, score=0.5,
            latency_ms=1.0, request_id=rid)
    if label is not None:
        mon.log_outcome(model="m", request_id=rid, label=label)


for i in range(5):
    log(f"early{i}")
mon.flush()  # the producer is made here: kafka-python registers its exit hook now
for i in range(7):
    log(f"late{i}", label=i % 2)
if wait_for_parent == "1":
    print("ready", flush=True)
    sys.stdin.readline()  # the parent stops Kafka meanwhile
# no close(): the SDK's exit hook has to deliver the late rows
"""


@dataclass(frozen=True)
class Broker:
    kafka: OwnKafka
    env: dict[str, str]
    """The environment for subprocesses (this module's ports and run directory)."""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Kafka of this module's own (free ports, own run directory), always stopped at the
    end. Skips without a JDK and Maven (fails in CI, where they must be there)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing and not _IN_CI:
        pytest.skip(f"needs {' and '.join(missing)} (a JDK 17+ and Maven 3.8+)")
    from modelhealth.services.fetch import fetch_component

    fetch_component("kafka", log=lambda _: None)
    run_dir = tmp_path_factory.mktemp("s22b_kafka")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELHEALTH_RUN_DIR", str(run_dir))
        env = use_ports(mp, {attr: free_port() for attr in PORT_ENV})
        kafka = OwnKafka(run_dir)
        try:
            kafka.start()
            yield Broker(kafka, env)
        finally:
            kafka.stop()


@pytest.fixture
def namespace(broker: Broker) -> str:
    """Fresh topics for every table and the parked topic (what `pinot init` creates)."""
    from modelhealth.services import ensure_topic

    ns = f"s22b{uuid.uuid4().hex[:8]}_"
    for name in TABLES:
        ensure_topic(topic_name(name, ns))
    ensure_topic(parked_topic(ns))
    return ns


def _server(
    namespace: str, broker: Broker, *, background: bool, wait: bool = False
) -> subprocess.Popen[str]:
    """The model server of :data:`SERVER` as a child process, its pipes open."""
    args = [ports.KAFKA_BOOTSTRAP, namespace, str(int(background)), str(int(wait))]
    return subprocess.Popen(
        [sys.executable, "-c", SERVER, *args],
        env=broker.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _delivered(topic: str, idle_ms: int = 5_000) -> Counter[str]:
    """request_id -> copies in ``topic`` (unpacking ``{"rows": [...]}`` messages)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=ports.KAFKA_BOOTSTRAP,
        auto_offset_reset="earliest",
        consumer_timeout_ms=idle_ms,
        group_id=None,
    )
    got: Counter[str] = Counter()
    try:
        for record in consumer:
            value = json.loads(record.value)
            got.update(row["request_id"] for row in value.get(ROWS_FIELD, [value]))
    finally:
        consumer.close()
    return got


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_rows_buffered_at_exit_reach_kafka(
    broker: Broker, namespace: str, background: bool
) -> None:
    """Predictions and labels logged after the last flush are in Kafka once the process
    has exited without ``close()``, each exactly once, and nothing is reported lost."""
    proc = _server(namespace, broker, background=background)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    early = {f"early{i}": 1 for i in range(5)}
    late = {f"late{i}": 1 for i in range(7)}
    assert _delivered(topic_name("inferences", namespace)) == {**early, **late}, err
    assert _delivered(topic_name("outcomes", namespace)) == late, err
    assert "lost" not in err and "Traceback" not in err, err


def test_exit_with_kafka_down_is_bounded_and_says_what_was_lost(
    broker: Broker, namespace: str
) -> None:
    """Kafka gone when the server exits: the exit waits ``exit_timeout_ms`` (3 s here) per
    wait on Kafka, not ``max_block_ms`` (20 s here), and the log says the rows are lost.
    (Stops this module's Kafka: keep it the module's last test.)"""
    proc = _server(namespace, broker, background=True, wait=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    broker.kafka.stop()
    started = time.monotonic()
    proc.stdin.write("\n")
    proc.stdin.flush()
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "could not flush a Monitor at exit" in err, err
    assert "rows still queued for Kafka are lost" in err, err  # the producer held some
    assert "Exception ignored" not in err, err  # kafka-python's hook found it closed
    assert took < 15, f"exit took {took:.1f}s with Kafka down\n{err}"
