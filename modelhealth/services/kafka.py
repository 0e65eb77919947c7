"""Kafka 4.1 in KRaft mode (one combined broker+controller JVM) and topic helpers.

The broker's ``server.properties`` is rendered from ``deploy/jvm/kafka/server.properties.template``
into the run directory and the log directory is formatted once (``kafka.tools.StorageTool``),
exactly what Kafka's own ``kafka-storage.sh`` + ``kafka-server-start.sh`` do, minus the tarball.
"""

from __future__ import annotations

import base64
import contextlib
import string
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from modelhealth.services import ports
from modelhealth.services.paths import ServicesError, deploy_dir, find_java, lib_dir, run_dir
from modelhealth.services.process import ServiceSpec, port_open

NAME = "kafka"
HEAP = "1g"


def data_dir() -> Path:
    return run_dir() / "kafka" / "data"


def config_file() -> Path:
    return run_dir() / "kafka" / "server.properties"


def _log4j_flags(log_name: str = NAME) -> list[str]:
    """Logging flags; CLI helpers pass their own ``log_name`` so they never share the broker's."""
    return [
        f"-Dlog4j2.configurationFile={deploy_dir() / 'log4j2-kafka.xml'}",
        f"-Dmodelhealth.log.file={run_dir() / 'logs' / f'{log_name}.log'}",
    ]


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars), not
    starting with "-": kafka-storage reads such an id as an option ("argument --cluster-id:
    expected one argument"), which failed one start in 32 (seen in a clean-clone CI run)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def prepare() -> None:
    """Render server.properties and format the log dir on first start (idempotent)."""
    template = string.Template((deploy_dir() / "kafka" / "server.properties.template").read_text())
    data_dir().mkdir(parents=True, exist_ok=True)
    config_file().write_text(
        template.substitute(
            host=ports.HOST,
            port=ports.KAFKA_PORT,
            controller_port=ports.KAFKA_CONTROLLER_PORT,
            log_dirs=str(data_dir()),
        )
    )
    if (data_dir() / "meta.properties").exists():
        return
    cmd = [
        find_java(), *_log4j_flags("kafka-storage"), "-cp", str(lib_dir("kafka") / "*"),
        "kafka.tools.StorageTool", "format", "--standalone", "-t", _cluster_id(),
        "-c", str(config_file()), "--ignore-formatted",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ServicesError(f"kafka storage format failed:\n{proc.stdout}{proc.stderr}")


def healthy() -> bool:
    """Port accepts connections and the broker answers a metadata request."""
    if not port_open(ports.HOST, ports.KAFKA_PORT):
        return False
    try:
        from kafka import KafkaAdminClient
    except ImportError:
        # Without kafka-python: the broker logs this line once it serves requests.
        log = run_dir() / "logs" / "kafka.log"
        return log.exists() and "Kafka Server started" in log.read_text(errors="replace")
    try:
        admin = KafkaAdminClient(bootstrap_servers=ports.KAFKA_BOOTSTRAP, request_timeout_ms=5000)
    except Exception:  # NoBrokersAvailable and friends while the broker boots
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        component="kafka",
        main_class="kafka.Kafka",
        args=[str(config_file())],
        heap=HEAP,
        port=ports.KAFKA_PORT,
        healthy=healthy,
        jvm_flags=_log4j_flags(),
        prepare=prepare,
    )


def ensure_topic(
    name: str, partitions: int = 1, *, replication: int = 1, timeout: float = 30.0
) -> int | None:
    """Create topic ``name`` if missing, wait until its metadata is visible, and return its
    partition count (``None`` when unknown): a topic that already existed keeps its own, which
    may not be ``partitions``, and ``pinot init --partitions N`` must say so.

    Pinot fetches the partition count when a REALTIME table is created, so the topic must exist
    (and be visible in metadata) first. Uses kafka-python's admin client when installed, else
    Kafka's own ``kafka-topics`` class from the cached jars.
    """
    try:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError
    except ImportError:
        _ensure_topic_cli(name, partitions, replication, timeout)
        return None
    admin = KafkaAdminClient(bootstrap_servers=ports.KAFKA_BOOTSTRAP, request_timeout_ms=10000)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, partitions, replication)])
        deadline = time.monotonic() + timeout
        while name not in admin.list_topics():
            if time.monotonic() > deadline:
                raise ServicesError(f"topic {name!r} not visible after {timeout:.0f}s")
            time.sleep(0.2)
        return _partition_count(admin, name)
    finally:
        admin.close()


def _partition_count(admin: Any, name: str) -> int | None:
    """Partitions of topic ``name`` by the admin client's metadata, or None if it cannot tell."""
    try:
        (found,) = admin.describe_topics([name])
    except Exception:  # an older kafka-python's answer shape: the count is only informative
        return None
    parts = found.get("partitions") if isinstance(found, dict) else None
    return len(parts) if parts else None


def _ensure_topic_cli(name: str, partitions: int, replication: int, timeout: float) -> None:
    cmd = [
        find_java(), *_log4j_flags("kafka-topics"), "-cp", str(lib_dir("kafka") / "*"),
        "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", ports.KAFKA_BOOTSTRAP,
        "--create", "--if-not-exists", "--topic", name,
        "--partitions", str(partitions), "--replication-factor", str(replication),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ServicesError(f"kafka-topics --create {name} failed:\n{proc.stdout}{proc.stderr}")
