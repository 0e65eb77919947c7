"""The services' ports are read from the environment when used, not once at import.

``modelhealth.services.ports`` read its ``MODELHEALTH_*`` variables at import, so a test or
an embedding program that set ``MODELHEALTH_KAFKA_PORT`` after the module had been imported
(by anything: the SDK, the CLI, another test) kept talking to 9092.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelhealth.services import ports

ROOT = Path(__file__).resolve().parents[2]


def test_a_variable_set_after_import_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELHEALTH_KAFKA_PORT", "19092")
    monkeypatch.setenv("MODELHEALTH_PINOT_BROKER_PORT", "18099")
    monkeypatch.setenv("MODELHEALTH_PINOT_CLUSTER", "Elsewhere")
    # a module attribute no test pins with monkeypatch.setattr (those pinned stay pinned)
    assert ports.PINOT_CLUSTER == "Elsewhere"
    now = ports.current()
    assert now.kafka_port == 19092
    assert now.kafka_bootstrap == f"{now.host}:19092"
    assert now.pinot_broker_url == f"http://{now.host}:18099"
    monkeypatch.delenv("MODELHEALTH_KAFKA_PORT")
    assert ports.current().kafka_port == 9092


def test_junk_set_after_import_is_the_one_line_error_at_the_next_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELHEALTH_ZOOKEEPER_PORT", "70000")
    with pytest.raises(ports.PortSettingError, match="MODELHEALTH_ZOOKEEPER_PORT=70000 is"):
        ports.current()
    with pytest.raises(ports.PortSettingError):
        _ = ports.PINOT_CLUSTER  # every variable is checked whichever value is asked for


EMBEDDED = """
import os
from modelhealth.ingestion.kafka_sink import KafkaSink
from modelhealth.services import kafka, pinot, ports
from modelhealth.services.ports import KAFKA_BOOTSTRAP  # a copy of the moment

os.environ["MODELHEALTH_KAFKA_PORT"] = "19092"
os.environ["MODELHEALTH_ZOOKEEPER_PORT"] = "12181"
os.environ["MODELHEALTH_PINOT_BROKER_PORT"] = "18099"
print(ports.KAFKA_BOOTSTRAP, kafka.spec().port, KafkaSink().bootstrap)
broker = pinot.broker_config()["pinot.broker.client.queryPort"]
print(pinot.server_config()["pinot.zk.server"], broker)
print(KAFKA_BOOTSTRAP)
"""


def test_the_callers_follow_a_variable_set_after_import() -> None:
    """A fresh process (no test's pinned attribute), as an embedding program: the
    variables set after every module is imported reach the services' and the SDK's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELHEALTH_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-c", EMBEDDED],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == [
        "127.0.0.1:19092 19092 127.0.0.1:19092",
        "127.0.0.1:12181 18099",
        "127.0.0.1:9092",
    ]
