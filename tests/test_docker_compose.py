"""docker-compose.yml validates offline and uses the code's own ports, tables and topics.

There is no Docker engine here; ``docker-compose config -q`` (Debian's 1.29.2, installed by
``scripts/ensure_compose.sh``) only parses and validates the file. Under CI=true a missing
docker-compose is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelhealth.ingestion.schema import PARKED_TOPIC, TABLES
from modelhealth.pinot_schemas import table_json
from modelhealth.pinot_schemas.init import topics
from modelhealth.services import ports

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _compose_binary() -> str | None:
    found = shutil.which("docker-compose")
    if found:
        return found
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_compose.sh")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        if IN_CI:
            pytest.fail(f"scripts/ensure_compose.sh failed:\n{proc.stderr}", pytrace=False)
        return None
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _command(service: dict[str, Any]) -> str:
    cmd = service["command"]
    return cmd if isinstance(cmd, str) else " ".join(cmd)


def test_compose_file_validates_offline() -> None:
    binary = _compose_binary()
    if binary is None:
        pytest.skip("docker-compose missing: run scripts/ensure_compose.sh (apt-get)")
    proc = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_every_component_is_present(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    for role in ("zookeeper", "controller", "broker", "server"):
        assert services[f"pinot-{role}"]["image"].startswith("apachepinot/pinot:")
    assert _command(services["pinot-init"]) == "modelhealth pinot init"
    assert _command(services["rules"]).startswith("modelhealth rules run --backend pinot")
    assert _command(services["dashboard"]).startswith("modelhealth dashboard")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert (ROOT / "Dockerfile").is_file()


def test_ports_match_the_code(compose: dict[str, Any]) -> None:
    s = compose["services"]
    env = s["kafka"]["environment"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{ports.KAFKA_BOOTSTRAP}"
    assert f"CONTROLLER://{ports.HOST}:{ports.KAFKA_CONTROLLER_PORT}" in env["KAFKA_LISTENERS"]
    assert f"-zkPort {ports.ZOOKEEPER_PORT}" in _command(s["pinot-zookeeper"])
    for role in ("controller", "broker", "server"):
        cmd = _command(s[f"pinot-{role}"])
        assert f"-zkAddress {ports.ZOOKEEPER_ADDRESS}" in cmd
        assert f"-clusterName {ports.PINOT_CLUSTER}" in cmd
    assert f"-controllerPort {ports.PINOT_CONTROLLER_PORT}" in _command(s["pinot-controller"])
    assert f"-brokerPort {ports.PINOT_BROKER_PORT}" in _command(s["pinot-broker"])
    server = _command(s["pinot-server"])
    assert f"-serverPort {ports.PINOT_SERVER_PORT}" in server
    assert f"-serverAdminPort {ports.PINOT_SERVER_ADMIN_PORT}" in server
    assert f"--broker {ports.PINOT_BROKER_URL}" in _command(s["rules"])
    for name, svc in s.items():
        assert svc.get("network_mode") == "host", f"{name}: ports above assume host networking"


def test_tables_and_topics_match_the_code() -> None:
    assert topics() == [t.topic for t in TABLES.values()] + [PARKED_TOPIC]
    for name, table in TABLES.items():
        config = table_json(name)
        assert config["tableName"] == name
        (stream,) = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
        assert stream["stream.kafka.topic.name"] == table.topic
        assert stream["stream.kafka.broker.list"] == ports.KAFKA_BOOTSTRAP


def test_pinot_jvms_get_the_decoder_the_table_configs_name(compose: dict[str, Any]) -> None:
    from modelhealth.pinot_schemas import DECODER_CLASS, render_table

    services = compose["services"]
    build = " ".join(services["pinot-decoder"]["command"])
    assert "deploy/jvm/pinot-decoder/pom.xml" in build and "package" in build
    for name in ("pinot-controller", "pinot-broker", "pinot-server"):
        env = services[name]["environment"]
        assert env["CLASSPATH_PREFIX"].endswith("modelhealth-pinot-decoder.jar"), name
        assert any(v.startswith("pinot-decoder:") for v in services[name]["volumes"]), name
    stream = render_table("inferences")["ingestionConfig"]["streamIngestionConfig"]
    assert stream["streamConfigMaps"][0]["stream.kafka.decoder.class.name"] == DECODER_CLASS
