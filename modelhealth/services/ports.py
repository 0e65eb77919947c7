"""Hosts and ports of the local Kafka and Pinot services, in one place.

Every other module (ingestion, query layer, tests, dashboards) imports these instead of
hard-coding numbers, so a developer whose 9092 is taken can move Kafka with one environment
variable and everything follows. Values are read once, at import time.
"""

from __future__ import annotations

import os

from modelhealth.errors import ModelHealthError


class PortSettingError(ModelHealthError, ValueError):
    """A ``MODELHEALTH_*_PORT`` variable holds no port. A ``ModelHealthError``, so the
    ``modelhealth`` command prints it as one line instead of an import traceback."""


def _port(env: str, default: int) -> int:
    """Read a port override from ``env``; reject junk early rather than at connect time."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PortSettingError(f"{env}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise PortSettingError(f"{env}={value} is outside 1..65535")
    return value


#: Everything binds and advertises loopback: the services are for this machine only.
HOST: str = os.environ.get("MODELHEALTH_SERVICES_HOST", "127.0.0.1")

KAFKA_PORT: int = _port("MODELHEALTH_KAFKA_PORT", 9092)
KAFKA_CONTROLLER_PORT: int = _port("MODELHEALTH_KAFKA_CONTROLLER_PORT", 9093)
ZOOKEEPER_PORT: int = _port("MODELHEALTH_ZOOKEEPER_PORT", 2181)
PINOT_CONTROLLER_PORT: int = _port("MODELHEALTH_PINOT_CONTROLLER_PORT", 9000)
PINOT_BROKER_PORT: int = _port("MODELHEALTH_PINOT_BROKER_PORT", 8099)
PINOT_SERVER_PORT: int = _port("MODELHEALTH_PINOT_SERVER_PORT", 8098)
PINOT_SERVER_ADMIN_PORT: int = _port("MODELHEALTH_PINOT_SERVER_ADMIN_PORT", 8097)

#: Helix cluster name shared by the Pinot controller, broker and server.
PINOT_CLUSTER: str = os.environ.get("MODELHEALTH_PINOT_CLUSTER", "ModelHealth")

KAFKA_BOOTSTRAP: str = f"{HOST}:{KAFKA_PORT}"
ZOOKEEPER_ADDRESS: str = f"{HOST}:{ZOOKEEPER_PORT}"
PINOT_CONTROLLER_URL: str = f"http://{HOST}:{PINOT_CONTROLLER_PORT}"
PINOT_BROKER_URL: str = f"http://{HOST}:{PINOT_BROKER_PORT}"
PINOT_SERVER_ADMIN_URL: str = f"http://{HOST}:{PINOT_SERVER_ADMIN_PORT}"

__all__ = [
    "HOST",
    "KAFKA_BOOTSTRAP",
    "KAFKA_CONTROLLER_PORT",
    "KAFKA_PORT",
    "PINOT_BROKER_PORT",
    "PINOT_BROKER_URL",
    "PINOT_CLUSTER",
    "PINOT_CONTROLLER_PORT",
    "PINOT_CONTROLLER_URL",
    "PINOT_SERVER_ADMIN_PORT",
    "PINOT_SERVER_ADMIN_URL",
    "PINOT_SERVER_PORT",
    "ZOOKEEPER_ADDRESS",
    "ZOOKEEPER_PORT",
    "PortSettingError",
]
