"""Email over STARTTLS and implicit TLS with SMTP AUTH, against real aiosmtpd servers.

A self-signed certificate for 127.0.0.1 is generated per test session; the notifier trusts it
only through MODELHEALTH_SMTP_CA_FILE, so a passing test proves the certificate was verified,
and the authenticator checks the user and password the notifier read from the environment.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.mailbox import free_port
from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import firing
from .test_email import ROUTING

USER = "alerts@example.com"
PASSWORD = "s3cret-Smtp-pass!"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (SAN 127.0.0.1, localhost) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelhealth test SMTP")])
    # the certificate's validity is real wall-clock time (OpenSSL checks it against the OS
    # clock), so it spans years around any date the test could run
    start = datetime(2020, 1, 1, tzinfo=UTC)
    crt = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class TlsServer:
    """What the server saw: accepted messages with the TLS version and login of their session."""

    port: int
    received: list[tuple[bytes, str, str]] = field(default_factory=list)  # (data, tls, login)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        tls = server.transport.get_extra_info("ssl_object")
        auth = session.auth_data if session.authenticated else None
        login = auth.login.decode() if isinstance(auth, LoginPassword) else ""
        with self.lock:
            self.received.append((envelope.content, tls.version() if tls else "", login))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        with self.lock:
            self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "", ok))
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def starttls_server(cert: tuple[Path, Path]) -> Iterator[TlsServer]:
    srv = TlsServer(free_port())
    ctl = Controller(
        srv,
        hostname="127.0.0.1",
        port=srv.port,
        tls_context=_server_context(cert),
        require_starttls=True,  # nothing, AUTH included, before STARTTLS
        auth_require_tls=True,
        authenticator=srv.authenticate,
    )
    ctl.start()
    yield srv
    ctl.stop()


@pytest.fixture
def ssl_server(cert: tuple[Path, Path]) -> Iterator[TlsServer]:
    srv = TlsServer(free_port())
    ctl = Controller(
        srv,
        hostname="127.0.0.1",
        port=srv.port,
        ssl_context=_server_context(cert),  # TLS from the first byte (SMTPS, port 465 style)
        # aiosmtpd only knows about STARTTLS when deciding whether the session is encrypted
        auth_require_tls=False,
        authenticator=srv.authenticate,
    )
    ctl.start()
    yield srv
    ctl.stop()


def smtp_env(port: int, cert: Path, *, mode: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "MODELHEALTH_SMTP_HOST": "127.0.0.1",
        "MODELHEALTH_SMTP_PORT": str(port),
        "MODELHEALTH_SMTP_FROM": USER,
        "MODELHEALTH_SMTP_USER": USER,
        "MODELHEALTH_SMTP_PASSWORD": password,
        "MODELHEALTH_SMTP_CA_FILE": str(cert),
        "MODELHEALTH_SMTP_TIMEOUT": "5",
        f"MODELHEALTH_SMTP_{mode}": "true",
    }


def notifier(env: dict[str, str]) -> EmailNotifier:
    return EmailNotifier(EmailConfig(to=("oncall@example.com",)), SmtpSettings.from_env(env))


def one_alert_through(d: Dispatcher, clock: FakeClock) -> None:
    a = firing(severity="critical")
    d([a], clock.now())
    d([a], clock.advance(seconds=30))


def test_starttls_with_auth_delivers_over_tls(
    starttls_server: TlsServer, cert: tuple[Path, Path], clock: FakeClock
) -> None:
    env = smtp_env(starttls_server.port, cert[0], mode="STARTTLS")
    d = Dispatcher(parse_routing(ROUTING), {"mail": notifier(env)}, ":memory:", clock)
    one_alert_through(d, clock)
    assert d.outbox.counts() == {"sent": 1}, d.outbox.rows()[0].last_error
    ((data, tls, login),) = starttls_server.received
    assert tls.startswith("TLSv1.")  # the message itself travelled inside the TLS session
    assert login == USER
    assert starttls_server.logins == [(USER, True)]
    assert b"[FIRING:1] feature_drift fraud (critical)" in data


def test_implicit_ssl_with_auth_delivers_over_tls(
    ssl_server: TlsServer, cert: tuple[Path, Path], clock: FakeClock
) -> None:
    env = smtp_env(ssl_server.port, cert[0], mode="SSL")
    assert SmtpSettings.from_env(env).ssl and not SmtpSettings.from_env(env).starttls
    d = Dispatcher(parse_routing(ROUTING), {"mail": notifier(env)}, ":memory:", clock)
    one_alert_through(d, clock)
    assert d.outbox.counts() == {"sent": 1}, d.outbox.rows()[0].last_error
    ((data, tls, login),) = ssl_server.received
    assert tls.startswith("TLSv1.") and login == USER
    assert b"feature_drift" in data


def test_wrong_password_fails_without_retry_and_never_shows_the_password(
    starttls_server: TlsServer, cert: tuple[Path, Path], clock: FakeClock
) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    env = smtp_env(starttls_server.port, cert[0], mode="STARTTLS", password=wrong)
    d = Dispatcher(parse_routing(ROUTING), {"mail": notifier(env)}, ":memory:", clock)
    one_alert_through(d, clock)
    for _ in range(10):  # a permanent failure is not retried by the outbox...
        d([firing(severity="critical")], clock.advance(minutes=5))
    rows = d.outbox.rows()
    # ...but the page is not lost: each group flush queues it anew (as Alertmanager does)
    assert len(rows) > 1 and {(r.status, r.attempts) for r in rows} == {("failed", 1)}
    for row in rows:
        assert "SMTP auth failed" in row.last_error and "535" in row.last_error
        assert wrong not in row.last_error and PASSWORD not in row.last_error
    # one connection per row (smtplib offers the password once per mechanism, PLAIN then
    # LOGIN), always over TLS
    assert starttls_server.logins == [(USER, False)] * 2 * len(rows)
    assert starttls_server.received == []


def test_untrusted_certificate_is_refused(
    starttls_server: TlsServer, cert: tuple[Path, Path]
) -> None:
    env = smtp_env(starttls_server.port, cert[0], mode="STARTTLS")
    del env["MODELHEALTH_SMTP_CA_FILE"]  # the system CAs do not know our self-signed cert
    batch = NotificationBatch(
        receiver="mail", group_key="g", dedup_key="d", status="firing", reason="new_alerts",
        group_labels={}, alerts=[firing().to_dict()], created_at="",
    )  # fmt: skip
    out = notifier(env).notify(batch)
    assert not out.ok and "CERTIFICATE_VERIFY_FAILED" in out.reason
    assert PASSWORD not in out.reason
    assert starttls_server.logins == [] and starttls_server.received == []
