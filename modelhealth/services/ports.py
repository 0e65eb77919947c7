"""Hosts and ports of the local Kafka and Pinot services, in one place.

Every other module (ingestion, query layer, tests, dashboards) imports these instead of
hard-coding numbers, so a developer whose 9092 is taken can move Kafka with one environment
variable and everything follows.

The environment is read when a value is asked for, not at import: ``ports.KAFKA_BOOTSTRAP``
(a module attribute served by :func:`__getattr__`) and :func:`current` read the
``MODELHEALTH_*`` variables each time. They used to be read once, at import, so a test or
an embedding program that set ``MODELHEALTH_KAFKA_PORT`` after anything had imported this
module (the CLI, the services, a test) still talked to 9092. Callers in this
package use ``ports.NAME``, read where used; ``from modelhealth.services.ports import
KAFKA_BOOTSTRAP`` still works, but copies the value of that moment, as any such import does.
A test that pins a value with ``monkeypatch.setattr(ports, NAME, value)`` overrides the
variable for as long as the attribute is set (a module attribute comes before
:func:`__getattr__`); monkeypatch's undo leaves the old value set, pinned, in that process.

Every variable is checked whichever value is asked for: one holding junk is a
:class:`PortSettingError` at the first use of any, as it was at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelhealth.errors import ModelHealthError


class PortSettingError(ModelHealthError, ValueError):
    """A ``MODELHEALTH_*_PORT`` variable holds no port. A ``ModelHealthError``, so the
    ``modelhealth`` command prints it as one line instead of a traceback."""


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


@dataclass(frozen=True)
class ServicePorts:
    """The services' host, ports and cluster name as the environment sets them now
    (:func:`current`), and the addresses made of them."""

    #: Everything binds and advertises loopback: the services are for this machine only.
    host: str
    kafka_port: int
    kafka_controller_port: int
    zookeeper_port: int
    pinot_controller_port: int
    pinot_broker_port: int
    pinot_server_port: int
    pinot_server_admin_port: int
    #: Helix cluster name shared by the Pinot controller, broker and server.
    pinot_cluster: str

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def zookeeper_address(self) -> str:
        return f"{self.host}:{self.zookeeper_port}"

    @property
    def pinot_controller_url(self) -> str:
        return f"http://{self.host}:{self.pinot_controller_port}"

    @property
    def pinot_broker_url(self) -> str:
        return f"http://{self.host}:{self.pinot_broker_port}"

    @property
    def pinot_server_admin_url(self) -> str:
        return f"http://{self.host}:{self.pinot_server_admin_port}"


def current() -> ServicePorts:
    """The services' settings from the environment as it is now (a dict lookup per
    variable: cheap enough to call wherever a value is needed)."""
    return ServicePorts(
        host=os.environ.get("MODELHEALTH_SERVICES_HOST", "127.0.0.1"),
        kafka_port=_port("MODELHEALTH_KAFKA_PORT", 9092),
        kafka_controller_port=_port("MODELHEALTH_KAFKA_CONTROLLER_PORT", 9093),
        zookeeper_port=_port("MODELHEALTH_ZOOKEEPER_PORT", 2181),
        pinot_controller_port=_port("MODELHEALTH_PINOT_CONTROLLER_PORT", 9000),
        pinot_broker_port=_port("MODELHEALTH_PINOT_BROKER_PORT", 8099),
        pinot_server_port=_port("MODELHEALTH_PINOT_SERVER_PORT", 8098),
        pinot_server_admin_port=_port("MODELHEALTH_PINOT_SERVER_ADMIN_PORT", 8097),
        pinot_cluster=os.environ.get("MODELHEALTH_PINOT_CLUSTER", "ModelHealth"),
    )


_NAMES = (
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
)
"""The module attributes read from the environment when asked for: each is the
:class:`ServicePorts` field or property of its name in lower case."""


def __getattr__(name: str) -> object:
    """``ports.KAFKA_PORT`` and the others of :data:`_NAMES`: read now (PEP 562)."""
    if name in _NAMES:
        return getattr(current(), name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})


if TYPE_CHECKING:  # what __getattr__ serves, for type checkers
    HOST: str
    KAFKA_PORT: int
    KAFKA_CONTROLLER_PORT: int
    ZOOKEEPER_PORT: int
    PINOT_CONTROLLER_PORT: int
    PINOT_BROKER_PORT: int
    PINOT_SERVER_PORT: int
    PINOT_SERVER_ADMIN_PORT: int
    PINOT_CLUSTER: str
    KAFKA_BOOTSTRAP: str
    ZOOKEEPER_ADDRESS: str
    PINOT_CONTROLLER_URL: str
    PINOT_BROKER_URL: str
    PINOT_SERVER_ADMIN_URL: str

__all__ = [
    *_NAMES,
    "PortSettingError",
    "ServicePorts",
    "current",
]
