"""Session fixture that makes sure the local Kafka + Pinot JVMs are up.

Starts them once per test session (first run also downloads the jars from Maven Central) and
stops them at the end only if this session started them, so a developer's running services
survive a test run. Under CI=true a start failure is a test failure, never a skip.

``own_kafka`` is a module's own Kafka on free ports, for tests that stop and restart it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelhealth.services import ServicesError, down, is_up, kafka, ports, process, up
from tests.conftest import free_port

_IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


PORT_ENV = {
    "KAFKA_PORT": "MODELHEALTH_KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT": "MODELHEALTH_KAFKA_CONTROLLER_PORT",
    "ZOOKEEPER_PORT": "MODELHEALTH_ZOOKEEPER_PORT",
    "PINOT_CONTROLLER_PORT": "MODELHEALTH_PINOT_CONTROLLER_PORT",
    "PINOT_BROKER_PORT": "MODELHEALTH_PINOT_BROKER_PORT",
    "PINOT_SERVER_PORT": "MODELHEALTH_PINOT_SERVER_PORT",
    "PINOT_SERVER_ADMIN_PORT": "MODELHEALTH_PINOT_SERVER_ADMIN_PORT",
}
"""Each ``modelhealth.services.ports`` attribute and the variable a CLI child reads it from."""


def use_ports(mp: pytest.MonkeyPatch, chosen: dict[str, int]) -> dict[str, str]:
    """Point this process (``ports``' attributes) and the CLIs it runs (the environment)
    at ``chosen``; returns the environment for a subprocess."""
    for attr, port in chosen.items():
        mp.setattr(ports, attr, port)
        mp.setenv(PORT_ENV[attr], str(port))
    host = ports.HOST
    mp.setattr(ports, "KAFKA_BOOTSTRAP", f"{host}:{chosen['KAFKA_PORT']}")
    mp.setattr(ports, "ZOOKEEPER_ADDRESS", f"{host}:{chosen['ZOOKEEPER_PORT']}")
    mp.setattr(ports, "PINOT_CONTROLLER_URL", f"http://{host}:{chosen['PINOT_CONTROLLER_PORT']}")
    mp.setattr(ports, "PINOT_BROKER_URL", f"http://{host}:{chosen['PINOT_BROKER_PORT']}")
    admin = chosen["PINOT_SERVER_ADMIN_PORT"]
    mp.setattr(ports, "PINOT_SERVER_ADMIN_URL", f"http://{host}:{admin}")
    return dict(os.environ)


@contextmanager
def own_services_env(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[dict[str, str]]:
    """A module's own run directory and free ports for Kafka + Pinot (nothing started), the
    jars fetched; yields the environment for CLI runs. Skips without a JDK and Maven (fails
    in CI, where they must be there)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing and not _IN_CI:
        pytest.skip(f"needs {' and '.join(missing)} (a JDK 17+ and Maven 3.8+)")
    from modelhealth.services import fetch_all

    fetch_all(log=lambda _: None)
    run_dir = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELHEALTH_RUN_DIR", str(run_dir))
        yield use_ports(mp, {attr: free_port() for attr in PORT_ENV})


@pytest.fixture(scope="session")
def jvm_services() -> Iterator[None]:
    """Kafka + Pinot on 127.0.0.1 (ports from modelhealth.services.ports)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing and not _IN_CI:
        pytest.skip(
            f"integration tests need {' and '.join(missing)}: install a JDK 17+ and Maven 3.8+ "
            "(apt-get install openjdk-17-jdk-headless maven), then `modelhealth services up`"
        )
    if is_up():
        yield
        return
    try:
        up()
    except ServicesError as exc:
        pytest.fail(f"could not start Kafka + Pinot: {exc}", pytrace=False)
    try:
        yield
    finally:
        down()


class OwnKafka:
    """A Kafka JVM on free ports in ``run_dir``; ``stop``/``start`` make the outage."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def start(self, timeout: float = 120.0) -> None:
        """Start the broker (if not running) and wait until it answers metadata requests."""
        if process.running_pid(kafka.NAME) is None:
            process.start(kafka.spec())
        deadline = time.monotonic() + timeout
        while not kafka.healthy():
            if time.monotonic() > deadline:
                raise RuntimeError(f"own Kafka not healthy after {timeout:.0f}s: {self.run_dir}")
            time.sleep(0.5)

    def stop(self) -> None:
        process.stop(kafka.NAME)


@pytest.fixture(scope="module")
def own_kafka(jvm_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnKafka]:
    """A Kafka of this module's own on free ports, to stop and start at will. It rides on
    the session's ``jvm_services``, which fetches the jars on a fresh machine (and skips, or
    fails under CI, where Java is missing): checked alone, the jars were not there yet when
    CI reached this module and every test here skipped."""
    run_dir = tmp_path_factory.mktemp("own_kafka")
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELHEALTH_RUN_DIR", str(run_dir))
        mp.setattr(ports, "KAFKA_PORT", port)
        mp.setattr(ports, "KAFKA_CONTROLLER_PORT", free_port())
        mp.setattr(ports, "KAFKA_BOOTSTRAP", f"{ports.HOST}:{port}")
        broker = OwnKafka(run_dir)
        try:
            broker.start()
            yield broker
        finally:
            broker.stop()
