"""A pre-fork model server (gunicorn with ``preload_app``) whose parent already wrote to
Kafka: each forked worker delivers what it logs through a producer of its own.

kafka-python's producer does its I/O on a thread, which a forked child does not have: a
child writing through the parent's producer waited ``max_block_ms`` per flush and delivered
nothing. The server runs in a subprocess (the fork must not copy pytest); the broker is this
module's own, on free ports and in its own run directory, stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator

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
import os, sys
from datetime import timedelta
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.kafka_sink import KafkaSink

bootstrap, namespace, background = sys.argv[1:4]
sink = KafkaSink(bootstrap, namespace=namespace, max_block_ms=5_000)
mon = Monitor(sink, background=background == "1", flush_interval=timedelta(milliseconds=200))


def log(rid):
    mon.log(model="m", version="v1", features={"a": 1.0}, score=0.5, latency_ms=1.0,
            request_id=rid)


log("parent-0")
mon.flush()  # the parent's producer exists from here on
log("parent-1")  # buffered at the fork: the parent's to write, once
workers = []
for w in range(2):
    pid = os.fork()
    if pid == 0:
        for i in range(50):
            log(f"w{w}-{i}")
        mon.close()
        # one write(2) per line: with PYTHONUNBUFFERED, print() writes the text and the
        # newline apart, and the two workers' lines interleave
        os.write(1, f"w{w} errors={mon.stats.flush_errors}\\n".encode())
        os._exit(0)
    workers.append(pid)
for pid in workers:
    os.waitpid(pid, 0)
mon.close()
"""


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Kafka of this module's own; yields the environment for the server subprocess.
    Skips without a JDK and Maven (fails in CI, where they must be there)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing and not _IN_CI:
        pytest.skip(f"needs {' and '.join(missing)} (a JDK 17+ and Maven 3.8+)")
    from modelhealth.services.fetch import fetch_component

    fetch_component("kafka", log=lambda _: None)
    run_dir = tmp_path_factory.mktemp("s24e_kafka")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELHEALTH_RUN_DIR", str(run_dir))
        env = use_ports(mp, {attr: free_port() for attr in PORT_ENV})
        kafka = OwnKafka(run_dir)
        try:
            kafka.start()
            yield env
        finally:
            kafka.stop()


def _topics() -> str:
    from modelhealth.services import ensure_topic

    ns = f"s24e{uuid.uuid4().hex[:8]}_"
    for name in TABLES:
        ensure_topic(topic_name(name, ns))
    ensure_topic(parked_topic(ns))
    return ns


def _delivered(topic: str) -> Counter[str]:
    """request_id -> copies in ``topic``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=ports.KAFKA_BOOTSTRAP,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5_000,
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
def test_forked_workers_deliver_through_their_own_producer(
    bootstrap: dict[str, str], background: bool
) -> None:
    """Every row of both workers and of the parent is in Kafka exactly once, and no
    worker's flush failed."""
    ns = _topics()
    args = [ports.KAFKA_BOOTSTRAP, ns, str(int(background))]
    proc = subprocess.run(
        [sys.executable, "-c", SERVER, *args],
        env=bootstrap,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["errors=0", "errors=0", "w0", "w1"], proc.stderr
    expected = {"parent-0": 1, "parent-1": 1}
    expected.update({f"w{w}-{i}": 1 for w in range(2) for i in range(50)})
    assert _delivered(topic_name("inferences", ns)) == expected
