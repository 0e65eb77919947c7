"""Apache Pinot as four JVMs (ZooKeeper, controller, broker, server) plus REST helpers.

Separate JVMs rather than ``StartServiceManager``: each role gets its own log, pid, heap and
health probe, so ``up`` can say exactly which one failed. All of them start in ~25 s on 2 cores.
The version is whatever ``deploy/jvm/pinot/pom.xml`` pins (0.11.0: the newest whose server stack
is on Maven Central), and the stream plugin on that classpath is ``pinot-kafka-2.0``. Every
JVM also gets modelhealth's own message decoder jar (:mod:`modelhealth.services.decoder`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelhealth.services import ports
from modelhealth.services.decoder import decoder_jar
from modelhealth.services.paths import ServicesError, deploy_dir, logs_dir, run_dir
from modelhealth.services.process import ServiceSpec, http_ok, port_open

ADMIN_MAIN = "org.apache.pinot.tools.admin.PinotAdministrator"
#: Stream plugin classes on the pinned (0.11.0) classpath.
KAFKA_CONSUMER_FACTORY = "org.apache.pinot.plugin.stream.kafka20.KafkaConsumerFactory"
KAFKA_JSON_DECODER = "org.apache.pinot.plugin.stream.kafka.KafkaJSONMessageDecoder"

ZOOKEEPER = "zookeeper"
CONTROLLER = "pinot-controller"
BROKER = "pinot-broker"
SERVER = "pinot-server"


#: Server settings that make SIGTERM stop the server in seconds (Pinot 0.11
#: ``BaseServerStarter.stop``). By default it first waits until no query has arrived for the
#: query timeout (15 s) and then for the last one to finish (up to 15 s more): a drain for a
#: server behind a load balancer, which on this single-user machine only made ``services down``
#: wait out the dashboard's last refresh. gRPC is off: nothing here queries the server over it,
#: and its fixed default port (8090) made a second set of services on other ports clash.
SERVER_SETTINGS: dict[str, str] = {
    "pinot.server.shutdown.enableQueryCheck": "false",
    "pinot.server.grpc.enable": "false",
}
#: The broker sleeps ``delayShutdownTimeMs`` (default 10 s) after leaving the cluster so queries
#: routed to it can finish; no other broker takes over here, so there is nothing to wait for.
BROKER_SETTINGS: dict[str, str] = {"pinot.broker.delayShutdownTimeMs": "0"}


def _flags(name: str) -> list[str]:
    return [
        f"-Dlog4j2.configurationFile={deploy_dir() / 'log4j2-pinot.xml'}",
        f"-Dmodelhealth.log.file={logs_dir() / f'{name}.log'}",
    ]


def _properties_value(value: str) -> str:
    """Escape a value for Pinot's config reader (commons-configuration ``.properties``), which
    reads a backslash as an escape and a comma as a list separator (a path holding one)."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def write_config(path: Path, properties: dict[str, str]) -> None:
    """Write ``properties`` as the ``-configFileName`` file of a Pinot role.

    A config file replaces *all* of the settings ``StartServer``/``StartBroker`` derive from
    their flags (Pinot 0.11 has no ``-configOverride``), so it holds the address settings too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}={_properties_value(value)}" for key, value in properties.items()]
    path.write_text("# written by modelhealth services up; rewritten at every start\n"
                    + "\n".join(lines) + "\n")  # fmt: skip


def server_config() -> dict[str, str]:
    """Every setting of the Pinot server: what ``StartServer``'s flags would give, plus
    :data:`SERVER_SETTINGS`."""
    state = run_dir() / "pinot" / "server"
    return {
        "pinot.cluster.name": ports.PINOT_CLUSTER,
        "pinot.zk.server": ports.ZOOKEEPER_ADDRESS,
        "pinot.server.netty.host": ports.HOST,
        "pinot.server.netty.port": str(ports.PINOT_SERVER_PORT),
        "pinot.server.adminapi.port": str(ports.PINOT_SERVER_ADMIN_PORT),
        "pinot.server.instance.dataDir": str(state / "data"),
        "pinot.server.instance.segmentTarDir": str(state / "segments"),
        **SERVER_SETTINGS,
    }


def broker_config() -> dict[str, str]:
    """Every setting of the Pinot broker: what ``StartBroker``'s flags would give, plus
    :data:`BROKER_SETTINGS`."""
    return {
        "pinot.cluster.name": ports.PINOT_CLUSTER,
        "pinot.zk.server": ports.ZOOKEEPER_ADDRESS,
        "pinot.broker.hostname": ports.HOST,
        "pinot.broker.client.queryPort": str(ports.PINOT_BROKER_PORT),
        **BROKER_SETTINGS,
    }


def server_config_file() -> Path:
    return run_dir() / "pinot" / "server.conf"


def broker_config_file() -> Path:
    return run_dir() / "pinot" / "broker.conf"


def _spec(
    name: str,
    heap: str,
    port: int,
    healthy: Callable[[], bool],
    args: list[str],
    prepare: Callable[[], None] | None = None,
) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        component="pinot",
        main_class=ADMIN_MAIN,
        args=args,
        heap=heap,
        port=port,
        healthy=healthy,
        jvm_flags=_flags(name),
        prepare=prepare,
        extra_classpath=[decoder_jar()],
    )


def specs() -> list[ServiceSpec]:
    """ZooKeeper, controller, broker, server, in start order.

    Hosts are always explicit: Pinot otherwise guesses the local address with a UDP "connect" to
    8.8.8.8, which throws on machines without a default route. The broker and the server read
    a config file written at their start (:func:`server_config`, :func:`broker_config`).
    """
    zk, cluster, host = ports.ZOOKEEPER_ADDRESS, ports.PINOT_CLUSTER, ports.HOST
    state = run_dir() / "pinot"
    return [
        _spec(
            ZOOKEEPER, "256m", ports.ZOOKEEPER_PORT,
            lambda: port_open(ports.HOST, ports.ZOOKEEPER_PORT),
            ["StartZookeeper", "-zkPort", str(ports.ZOOKEEPER_PORT),
             "-dataDir", str(state / "zookeeper")],
        ),
        _spec(
            CONTROLLER, "1g", ports.PINOT_CONTROLLER_PORT,
            lambda: http_ok(f"{ports.PINOT_CONTROLLER_URL}/health"),
            ["StartController", "-controllerHost", host,
             "-controllerPort", str(ports.PINOT_CONTROLLER_PORT), "-zkAddress", zk,
             "-clusterName", cluster, "-dataDir", str(state / "controller")],
        ),
        _spec(
            BROKER, "1g", ports.PINOT_BROKER_PORT,
            lambda: http_ok(f"{ports.PINOT_BROKER_URL}/health"),
            ["StartBroker", "-zkAddress", zk, "-clusterName", cluster,
             "-configFileName", str(broker_config_file())],
            prepare=lambda: write_config(broker_config_file(), broker_config()),
        ),
        _spec(
            SERVER, "2g", ports.PINOT_SERVER_ADMIN_PORT,
            lambda: http_ok(f"{ports.PINOT_SERVER_ADMIN_URL}/health"),
            ["StartServer", "-zkAddress", zk, "-clusterName", cluster,
             "-configFileName", str(server_config_file())],
            prepare=lambda: write_config(server_config_file(), server_config()),
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------- REST helpers


def _request(method: str, url: str, body: Any = None, timeout: float = 30.0) -> Any:
    """JSON request with stdlib only (no requests dependency); raise ServicesError on HTTP error."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise ServicesError(f"{method} {url} -> HTTP {exc.code}: {detail}") from None
    except OSError as exc:
        raise ServicesError(f"{method} {url} failed: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def add_schema(schema: dict[str, Any]) -> Any:
    """Create or replace a Pinot schema (``POST /schemas`` overrides an existing one)."""
    return _request("POST", f"{ports.PINOT_CONTROLLER_URL}/schemas", schema)


def add_table(config: dict[str, Any]) -> Any:
    """Create a table. For REALTIME tables the Kafka topic must already exist."""
    return _request("POST", f"{ports.PINOT_CONTROLLER_URL}/tables", config)


def table_config(name: str) -> dict[str, Any] | None:
    """The live REALTIME config of table ``name`` (``GET /tables/{name}?type=realtime``), or
    None if there is no such table (Pinot 0.11 answers ``{}`` then)."""
    quoted = urllib.parse.quote(name)
    found = _request("GET", f"{ports.PINOT_CONTROLLER_URL}/tables/{quoted}?type=realtime")
    config = found.get("REALTIME") if isinstance(found, dict) else None
    return config if isinstance(config, dict) else None


def update_table(config: dict[str, Any]) -> Any:
    """Replace the config of an existing table (``PUT /tables/{name}``) with ``config``, a whole
    table config. Pinot stores it at once; what a running consuming segment reads from it, such
    as the stream settings, it read when the segment started (see ``pinot_schemas.upgrade``)."""
    name = urllib.parse.quote(str(config["tableName"]))
    return _request("PUT", f"{ports.PINOT_CONTROLLER_URL}/tables/{name}", config)


def get_schema(name: str) -> dict[str, Any] | None:
    """The live schema ``name`` (``GET /schemas/{name}``), or None if there is none."""
    try:
        found = _request("GET", f"{ports.PINOT_CONTROLLER_URL}/schemas/{urllib.parse.quote(name)}")
    except ServicesError as exc:
        if "HTTP 404" in str(exc):
            return None
        raise
    return found if isinstance(found, dict) else None


def update_schema(schema: dict[str, Any], *, reload: bool = True) -> Any:
    """Replace an existing schema (``PUT /schemas/{name}``). Pinot accepts only a backward
    compatible one (every old column unchanged; new columns may be added) and, with
    ``reload``, reloads the segments of the tables using it so they gain the new columns."""
    name = urllib.parse.quote(str(schema["schemaName"]))
    flag = "true" if reload else "false"
    return _request("PUT", f"{ports.PINOT_CONTROLLER_URL}/schemas/{name}?reload={flag}", schema)


def delete_table(name: str, table_type: str = "realtime") -> Any:
    quoted = urllib.parse.quote(name)
    return _request("DELETE", f"{ports.PINOT_CONTROLLER_URL}/tables/{quoted}?type={table_type}")


def delete_schema(name: str) -> Any:
    return _request("DELETE", f"{ports.PINOT_CONTROLLER_URL}/schemas/{urllib.parse.quote(name)}")


def segment_states(table: str) -> dict[str, str]:
    """State of each REALTIME segment of ``table`` (``CONSUMING``, ``ONLINE``, ``ERROR``…).

    From the controller's external view: a consumer that died on a message shows ``ERROR`` here
    while queries keep answering from the rows consumed so far, so row counts alone miss it.
    """
    quoted = urllib.parse.quote(table)
    view = _request("GET", f"{ports.PINOT_CONTROLLER_URL}/tables/{quoted}/externalview")
    segments = (view or {}).get("REALTIME") or {}
    return {
        segment: ",".join(sorted(set(replicas.values()))) for segment, replicas in segments.items()
    }


def query(sql: str, query_options: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Run ``sql`` on the broker (``POST /query/sql``); raise if Pinot reports exceptions."""
    body: dict[str, Any] = {"sql": sql}
    if query_options:
        body["queryOptions"] = query_options
    result = _request("POST", f"{ports.PINOT_BROKER_URL}/query/sql", body, timeout=timeout)
    if not isinstance(result, dict):
        raise ServicesError(f"unexpected broker answer: {result!r}")
    if result.get("exceptions"):
        messages = "; ".join(str(e.get("message", e))[:300] for e in result["exceptions"])
        raise ServicesError(f"pinot query failed: {messages}")
    return result


def realtime_table_config(
    table: str,
    topic: str,
    time_column: str,
    *,
    flush_rows: int = 100_000,
    flush_time: str = "1h",
    stream_props: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REALTIME table config consuming JSON from ``topic`` on the local Kafka.

    Starts from the earliest offset (Pinot's default is the latest, which would silently skip
    events produced before the table existed). The schema must be named ``table``.
    """
    stream: dict[str, str] = {
        "streamType": "kafka",
        "stream.kafka.topic.name": topic,
        "stream.kafka.broker.list": ports.KAFKA_BOOTSTRAP,
        "stream.kafka.consumer.type": "lowlevel",
        "stream.kafka.consumer.factory.class.name": KAFKA_CONSUMER_FACTORY,
        "stream.kafka.decoder.class.name": KAFKA_JSON_DECODER,
        "stream.kafka.consumer.prop.auto.offset.reset": "smallest",
        "realtime.segment.flush.threshold.rows": str(flush_rows),
        "realtime.segment.flush.threshold.time": flush_time,
    }
    stream.update(stream_props or {})
    return {
        "tableName": table,
        "tableType": "REALTIME",
        "segmentsConfig": {
            "schemaName": table,
            "timeColumnName": time_column,
            "replication": "1",
            "replicasPerPartition": "1",
        },
        "tenants": {},
        "tableIndexConfig": {"loadMode": "MMAP"},
        "ingestionConfig": {"streamIngestionConfig": {"streamConfigMaps": [stream]}},
        "metadata": {},
    }
