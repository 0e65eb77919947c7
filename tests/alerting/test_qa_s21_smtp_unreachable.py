"""An SMTP server that cannot be reached says where its address comes from.

Before, ``rules run`` logged ``notification 1 to mail attempt 1: SMTP localhost:25
ConnectionRefusedError: [Errno 111] Connection refused`` (and the same reason on the circuit
breaker's ``receiver mail unreachable: ...`` line): the routing file names no host, and
``localhost:25`` is a default a user never wrote, so nothing said that the address is set by
``MODELHEALTH_SMTP_HOST``/``_PORT``. A server that answers with an SMTP reply is reachable,
and its reason (the reply) stays as it was.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from modelhealth.alerting.mailbox import free_port

from .test_delivery_qa_outbox import batch
from .test_email import _Greylisting, email_notifier


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_a_refused_smtp_port_names_the_settings_to_check() -> None:
    outcome = email_notifier(free_port()).notify(batch("mail", "g"))
    assert outcome.unreachable
    assert "ConnectionRefusedError" in outcome.reason
    assert "MODELHEALTH_SMTP_HOST" in outcome.reason and "_PORT" in outcome.reason


def test_a_silent_smtp_server_names_the_settings_to_check(silent_port: int) -> None:
    outcome = email_notifier(silent_port).notify(batch("mail", "g"))  # 2 s client timeout
    assert outcome.unreachable
    assert "MODELHEALTH_SMTP_HOST" in outcome.reason


def test_an_smtp_reply_is_reported_as_the_reply() -> None:
    server = Controller(_Greylisting(times=1000), hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        outcome = email_notifier(server.port).notify(batch("mail", "g"))
    finally:
        server.stop()
    assert not outcome.unreachable and "451" in outcome.reason
    assert "MODELHEALTH_SMTP" not in outcome.reason
