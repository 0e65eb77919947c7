"""Email over SMTP: one holistic HTML report per incident (with inline PNG plots) plus text.

Connection settings and credentials come from the environment (``MODELHEALTH_SMTP_*``); the
routing file only names recipients. The Message-ID is derived from the outbox row, so a copy
re-sent after a crash is recognisably the same message.
"""

from __future__ import annotations

import base64
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome, redact
from modelhealth.alerting.notifiers.limits import ellipsize

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UNREACHED_HINT = " (the SMTP server comes from MODELHEALTH_SMTP_HOST, _PORT, _SSL, _STARTTLS)"
"""Appended to an unreachable SMTP server's reason: the settings live in the environment,
not in the routing file, so the log says where to look (a default ``localhost:25`` is not
obviously a setting)."""

SUBJECT_MAX = 200
"""Characters a subject is cut to: mail clients show 80-150 of them, so a group of long label
values made an unreadable multi-kilobyte subject; the full title is in the body."""

_JOINERS = frozenset("\u200c\u200d")
"""Zero-width (non-)joiner: invisible, yet a ZWJ emoji or a Persian word falls apart without."""


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Where and how to connect; build with :meth:`from_env` so secrets stay out of configs."""

    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    starttls: bool = False
    ssl: bool = False
    sender: str = "modelhealth@localhost"
    timeout: float = 10.0
    ca_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read MODELHEALTH_SMTP_{HOST,PORT,USER,PASSWORD,STARTTLS,SSL,FROM,TIMEOUT,CA_FILE}."""
        env = env if env is not None else os.environ

        def get(name: str, default: str = "") -> str:
            return env.get(f"MODELHEALTH_SMTP_{name}", default)

        use_ssl = _truthy(get("SSL"))
        starttls = _truthy(get("STARTTLS"))
        default_port = "465" if use_ssl else ("587" if starttls else "25")
        port_text = get("PORT", default_port)
        if not port_text.isdigit():
            raise ValueError(f"MODELHEALTH_SMTP_PORT must be a port number, got {port_text!r}")
        return cls(
            host=get("HOST", "localhost"),
            port=int(port_text),
            user=get("USER"),
            password=get("PASSWORD"),
            starttls=starttls,
            ssl=use_ssl,
            sender=get("FROM", "modelhealth@localhost"),
            timeout=_seconds(get("TIMEOUT", "10")),
            ca_file=get("CA_FILE"),
        )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"MODELHEALTH_SMTP_TIMEOUT must be seconds > 0, got {text!r}")
    return value


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, kw_only=True)
class EmailConfig:
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    sender: str = ""
    subject_prefix: str = "[modelhealth] "


class EmailNotifier:
    """Renders ``templates/email.{html,txt}.j2`` and sends via SMTP.

    ``wants_context`` tells the dispatcher to attach plots when it writes the outbox row.

    >>> EmailNotifier(EmailConfig(to=("a@b.c",)), SmtpSettings()).config.to
    ('a@b.c',)
    """

    wants_context = True

    def __init__(self, config: EmailConfig, smtp: SmtpSettings) -> None:
        self.config = config
        self.smtp = smtp
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=jinja2.select_autoescape(["html.j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> EmailNotifier:
        cfg = EmailConfig(
            to=tuple(options["to"]),
            cc=tuple(options.get("cc", ())),
            sender=str(options.get("from", "")),
            subject_prefix=str(options.get("subject_prefix", "[modelhealth] ")),
        )
        return cls(cfg, SmtpSettings.from_env(env))

    def render(self, batch: NotificationBatch) -> EmailMessage:
        """Build the MIME message: text, then HTML with the plots as related CID images."""
        plots = list(batch.context.get("plots", []))
        view = {
            "b": batch,
            "firing": batch.firing,
            "resolved": batch.resolved,
            "labels": batch.common_labels,
            "ann": batch.common_annotations,
            "plots": plots,
            "notes": list(batch.context.get("notes", [])),
            "facts": dict(batch.context.get("facts", {})),
        }
        msg = EmailMessage()
        title = self.config.subject_prefix + batch.title
        msg["Subject"] = subject(title, keep=f" ({batch.severity})")
        msg["From"] = self.config.sender or self.smtp.sender
        msg["To"] = ", ".join(self.config.to)
        if self.config.cc:
            msg["Cc"] = ", ".join(self.config.cc)
        msg["Date"] = formatdate(localtime=False, usegmt=True)  # UTC, not -0000 ("unknown")
        msg["Message-ID"] = f"<mh-{batch.id}-{batch.dedup_key}@modelhealth>"
        # each mail of a group replies to one thread root named by the group's dedup key, so
        # an update and the RESOLVED follow-up thread under the FIRING mail in the client
        msg["In-Reply-To"] = thread_root(batch.dedup_key)
        msg["References"] = thread_root(batch.dedup_key)
        msg["X-Modelhealth-Dedup-Key"] = batch.dedup_key
        msg["X-Modelhealth-Status"] = batch.status
        msg.set_content(self._env.get_template("email.txt.j2").render(**view))
        msg.add_alternative(self._env.get_template("email.html.j2").render(**view), subtype="html")
        html_part = msg.get_payload()[1]
        for p in plots:
            html_part.add_related(
                base64.b64decode(p["png"]),
                maintype="image",
                subtype="png",
                cid=f"<{p['cid']}>",
                filename=f"{p['cid'].split('@')[0]}.png",
                disposition="inline",
            )
        return msg

    def notify(self, batch: NotificationBatch) -> Outcome:
        try:
            msg = self.render(batch)
        except Exception as exc:  # a template bug will not fix itself on retry
            return Outcome(False, False, f"cannot render email: {exc}")
        s = self.smtp
        secrets = (s.password,)
        try:
            ctx = ssl.create_default_context(cafile=s.ca_file or None)
            if s.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ctx
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.starttls:
                    client.starttls(context=ctx)
                if s.user:
                    client.login(s.user, s.password)
                refused = client.send_message(msg, to_addrs=[*self.config.to, *self.config.cc])
            if refused:
                # delivered to the others; a retry would send them the mail twice
                log.warning("email delivered, but refused for %s", _refusals(refused))
                return Outcome.success(f"delivered; refused: {_refusals(refused)}")
            return Outcome.success(f"delivered to {s.host}:{s.port}")
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome(False, False, redact(f"SMTP auth failed: {exc}", secrets), answered=True)
        except smtplib.SMTPRecipientsRefused as exc:
            # a 4xx refusal (greylisting, a full mailbox) is transient like any 4xx reply
            transient = any(400 <= code < 500 for code, _ in exc.recipients.values())
            why = f"all recipients refused: {_refusals(exc.recipients)}"
            return Outcome(False, transient, redact(why, secrets), answered=True)
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition of SMTP; 5xx are permanent. Either way
            # the server answered: it is reachable, and the next mail may be accepted.
            transient = 400 <= exc.smtp_code < 500
            return Outcome(
                False, transient, redact(f"SMTP {exc.smtp_code}: {exc}", secrets), answered=True
            )
        except smtplib.SMTPServerDisconnected as exc:
            # dropped mid-conversation; smtplib also reports a reply that timed out so
            return Outcome(False, True, self._failure(exc, UNREACHED_HINT), unreachable=True)
        except smtplib.SMTPException as exc:
            # the server talked, but not as expected (e.g. no STARTTLS offered): reachable
            return Outcome(False, True, self._failure(exc), answered=True)
        except OSError as exc:
            # refused, timed out, DNS, a failed TLS handshake (ssl.SSLError): nothing
            # (trustworthy) answered, so the next mail would fail the same way now
            return Outcome(False, True, self._failure(exc, UNREACHED_HINT), unreachable=True)

    def _failure(self, exc: BaseException, hint: str = "") -> str:
        s = self.smtp
        why = f"SMTP {s.host}:{s.port} {type(exc).__name__}: {exc}{hint}"
        return redact(why, (s.password,))


def thread_root(dedup_key: str) -> str:
    """The Message-ID every mail of one group refers to (``In-Reply-To``/``References``).

    Each mail has its own Message-ID (the outbox row), so without a common reference a
    RESOLVED mail arrived as an unrelated message far from the FIRING one it ends. No mail
    carries this id itself; clients thread the group's mails under it as siblings (RFC 5322
    section 3.6.4; Thunderbird, Apple Mail and mutt draw the missing parent's thread).

    >>> thread_root("abc")
    '<mh-abc@modelhealth>'
    """
    return f"<mh-{dedup_key}@modelhealth>"


def subject(text: str, limit: int = SUBJECT_MAX, keep: str = "") -> str:
    """``text`` as one header line of at most ``limit`` characters.

    Each run of whitespace (a line break or tab in a label value) becomes one space, and
    control and format characters are dropped (bar the joiners emoji and some scripts need;
    a bidi override could disguise the subject): a label value with a line break made
    ``EmailMessage`` refuse the header, so that group's mail failed for good with "cannot
    render email" and was never sent (and no label can add a header of its own). A longer
    text is cut on a character boundary with an ellipsis (see :data:`SUBJECT_MAX`) before
    its ending ``keep`` (the severity), which a reader needs more than a label's end.

    >>> subject("[FIRING:1] " + "x" * 50 + " (critical)", 30, keep=" (critical)")
    '[FIRING:1] xxxxxxx… (critical)'
    """
    line = "".join(c for c in " ".join(text.split()) if c.isprintable() or c in _JOINERS)
    end = " " + " ".join(keep.split())  # as flattened above, with its separating space
    if len(line) <= limit or end == " " or not line.endswith(end) or len(end) * 2 > limit:
        return ellipsize(line, limit)
    return ellipsize(line[: -len(end)], limit - len(end)) + end


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    """``a@x (451 greylisted), b@y (550 no such user)``: who was refused, and why."""
    parts = []
    for addr, (code, msg) in sorted(refused.items()):
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        parts.append(f"{addr} ({code} {text})")
    return ", ".join(parts)
