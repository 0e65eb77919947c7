"""What every notifier shares: the batch it is handed, the Outcome it returns, the HTTP
status -> retryable table, and secret redaction.

A notifier is one method (``notify``) and never retries, sleeps or dedups by itself: the
outbox owns retry and backoff, the dispatcher owns grouping, muting and dedup (as in
Alertmanager's stages), so an integration stays a small file.
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

from modelhealth.clock import Clock, SystemClock
from modelhealth.dashboard.links import incident_link

USER_AGENT = "modelhealth-alerting/0.1"
MAX_RETRY_AFTER = timedelta(hours=1)
"""The longest ``Retry-After`` honoured: a receiver asking for a day must not silence pages."""
SECRET_PART_LEN = 10
"""A path segment or query value of a secret URL this long is itself treated as a secret."""


@dataclass(frozen=True, kw_only=True)
class NotificationBatch:
    """One notification for one aggregation group and receiver, as stored in the outbox.

    ``alerts`` are :meth:`modelhealth.types.Alert.to_dict` records; ``dedup_key`` is stable for
    the group, so a retried or duplicated send is harmless at the pager.
    """

    receiver: str
    group_key: str
    dedup_key: str
    status: str  # "firing" or "resolved"
    reason: str  # why it was sent: new_alerts | resolved | repeat_interval
    group_labels: Mapping[str, str]
    alerts: list[dict[str, Any]]
    created_at: str
    context: Mapping[str, Any] = field(default_factory=dict)
    dashboard_url: str = ""
    id: int = 0

    @property
    def incident_url(self) -> str:
        """``dashboard_url`` deep-linked to this group's model and time range (see
        :mod:`modelhealth.dashboard.links`); empty without a ``dashboard_url``."""
        return self.link_for(self.alerts)

    def link_for(self, alerts: list[dict[str, Any]]) -> str:
        """The dashboard deep link for some of this batch's alerts."""
        if not self.dashboard_url:
            return ""
        return incident_link(self.dashboard_url, alerts, datetime.fromisoformat(self.created_at))

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("resolved_at") is None]

    @property
    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("resolved_at") is not None]

    @property
    def common_labels(self) -> dict[str, str]:
        return _common(a["labels"] for a in self.alerts)

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common(a["annotations"] for a in self.alerts)

    @property
    def severity(self) -> str:
        order = {"critical": 0, "warning": 1, "info": 2}
        sev = [a["labels"].get("severity", "info") for a in self.firing or self.alerts]
        return min(sev, key=lambda s: order.get(s, 3)) if sev else "info"

    @property
    def title(self) -> str:
        """``[FIRING:2] drift_psi fraud (critical)`` — the subject/summary line everywhere."""
        labels = self.common_labels
        what = " ".join(v for k in ("alertname", "model") if (v := labels.get(k, "")))
        what = what or " ".join(self.group_labels.values()) or "alerts"
        count = len(self.firing) if self.status == "firing" else len(self.resolved)
        return f"[{self.status.upper()}:{count}] {what} ({self.severity})"

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str, id: int = 0) -> NotificationBatch:
        raw = json.loads(text)
        raw["id"] = id
        return cls(**raw)


@dataclass(frozen=True)
class Outcome:
    """Result of one delivery attempt; ``retryable`` tells the outbox whether to try again,
    ``retry_after`` how long the receiver asked it to wait first (a 429's or 503's
    ``Retry-After``; None: the outbox's own backoff).

    ``unreachable`` says the failure was the endpoint's, not this notification's: nothing
    answered (a timeout, a refused or reset connection, a name that does not resolve, a TLS
    handshake that failed), so every other notification to the receiver would fail the same
    way just now. The outbox then stops trying that receiver for the rest of its delivery
    pass (one failure per outage, not one timeout per queued notification), as Alertmanager
    does. An endpoint that *answers*, even with a 5xx, 429 or an SMTP 4xx/5xx reply, is
    reachable: the next notification may well be accepted.

    ``answered`` says a failure is the receiver's own answer (an HTTP status, an SMTP
    reply), as opposed to one found before contacting it (a missing ``$VAR``, a bad URL, a
    template that does not render): only an answer, or a delivery, shows a receiver reachable
    again (``modelhealth_receiver_reachable``).
    """

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after: timedelta | None = None
    unreachable: bool = False
    answered: bool = False

    @property
    def reached(self) -> bool:
        """Whether the attempt reached the receiver: delivered, or answered with an error."""
        return self.ok or self.answered

    @classmethod
    def success(cls, reason: str = "delivered") -> Outcome:
        return cls(True, False, reason)


class Notifier(Protocol):
    """Delivers one batch; must not raise for delivery failures (return an Outcome)."""

    def notify(self, batch: NotificationBatch) -> Outcome: ...


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    it = iter(maps)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for m in it:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def retryable_status(status: int) -> bool:
    """Alertmanager's table: 5xx and 429 are worth retrying; other 4xx never will succeed."""
    return status >= 500 or status in (408, 429)


def outcome_for_status(
    status: int,
    body: str = "",
    secrets: Iterable[str] = (),
    retry_after: timedelta | None = None,
) -> Outcome:
    if 200 <= status < 300:
        return Outcome.success(f"HTTP {status}")
    detail = redact(body[:200].strip(), secrets)
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    if retry_after is not None:
        reason += f" (retry after {int(retry_after.total_seconds())}s)"
    return Outcome(False, retryable_status(status), reason, retry_after, answered=True)


def retry_after(
    headers: Message | None, status: int, clock: Clock | None = None
) -> timedelta | None:
    """The wait a 429 or 503 asks for in ``Retry-After`` (seconds or an HTTP date), capped at
    :data:`MAX_RETRY_AFTER`; None when absent, unreadable or another status.

    A date is read against the response's own ``Date`` header when it has one, so a receiver
    whose clock differs from ours still gets the wait it meant; without one, ``clock``.
    """
    if headers is None or status not in (429, 503):
        return None
    text = (headers.get("Retry-After") or "").strip()
    if not text:
        return None
    if text.isdigit():
        wait = timedelta(seconds=min(int(text), MAX_RETRY_AFTER.total_seconds()))
    else:
        wait = _wait_until(text, headers.get("Date"), clock or SystemClock())
        if wait is None:
            return None
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


def _wait_until(when: str, date: str | None, clock: Clock) -> timedelta | None:
    try:
        until = parsedate_to_datetime(when)
        now = parsedate_to_datetime(date) if date else clock.now()
    except (TypeError, ValueError, IndexError):
        return None
    if until.tzinfo is None or now.tzinfo is None:  # "-0000": UTC by RFC 5322
        until, now = until.replace(tzinfo=UTC), now.replace(tzinfo=UTC)
    return until - now


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (and its URL-quoted form) in ``text`` by ``<redacted>``.

    A secret URL (a Slack or webhook URL from ``*_env``) also hides its path and query and
    each long path segment or query value: a receiver answering 404 with the request path
    echoed ``/services/T000/SECRET`` into logs and the outbox, which only the whole URL hid.
    """
    parts = {p for s in secrets if s for p in (s, *_url_parts(s)) if len(p) >= 4}
    for p in sorted(parts, key=len, reverse=True):  # the whole URL before its pieces
        text = text.replace(p, "<redacted>").replace(quote(p, safe=""), "<redacted>")
    return text


def _url_parts(secret: str) -> list[str]:
    """The pieces of a URL that may carry its credential (none for a non-URL secret)."""
    try:
        url = urlsplit(secret)
        pairs = parse_qsl(url.query, keep_blank_values=True)
    except ValueError:
        return []
    if not (url.scheme and url.netloc):
        return []
    tail = url.path + (f"?{url.query}" if url.query else "")
    pieces = [tail if url.path.strip("/") or url.query else "", url.query]
    pieces += [seg for seg in url.path.split("/") if len(seg) >= SECRET_PART_LEN]
    pieces += [v for _, v in pairs if len(v) >= SECRET_PART_LEN]
    if url.password:
        pieces.append(url.password)
    return [p for p in pieces if p]


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """The exact request body :func:`post_json` sends for ``payload``: a receiver with a size
    limit (PagerDuty's 512 KB) is measured against these bytes, not an estimate of them.

    A float that is NaN or infinite (an alert's value over an empty window, a ratio to 0) is
    sent as ``null``: ``json.dumps`` wrote the bare tokens ``NaN``/``Infinity``, which are
    not JSON, and a strict receiver refused the whole notification with a 400, a final
    answer: the notification was lost, not retried."""
    try:
        return json.dumps(payload, default=str, allow_nan=False).encode()
    except ValueError:  # "Out of range float values are not JSON compliant"
        return json.dumps(_finite(payload), default=str, allow_nan=False).encode()


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float inside dicts, lists and tuples made ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    """POST JSON and map the answer (or the failure) to an Outcome with secrets redacted.

    A URL that can never work (no http(s) scheme: "unknown url type") fails for good: it
    used to be retried as "connection failed" until the notification expired. Every failure
    without an HTTP answer (timeout, refused, reset, DNS, TLS, a port that speaks another
    protocol: http.client's BadStatusLine, which used to escape as an exception) is
    ``unreachable``; an HTTP status, whatever it is, came from a reachable receiver.
    """
    secrets = tuple(secrets)
    body = encode_json(payload)
    try:
        req = urllib.request.Request(url, data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("User-Agent", USER_AGENT)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return outcome_for_status(resp.status, "", secrets)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace") if exc.fp else ""
        return outcome_for_status(exc.code, text, secrets, retry_after(exc.headers, exc.code))
    except TimeoutError as exc:  # no answer in time (a connect timeout is a URLError)
        why = f"timeout after {timeout}s from {_endpoint(url)}: {exc}"
        return Outcome(False, True, redact(why, secrets), unreachable=True)
    except urllib.error.URLError as exc:
        if str(exc.reason).startswith("unknown url type"):
            why = f"bad URL: {exc.reason}; expected http(s)://host[:port]/path"
            return Outcome(False, False, redact(why, secrets))
        why = f"connection to {_endpoint(url)} failed: {exc}"
        return Outcome(False, True, redact(why, secrets), unreachable=True)
    except OSError as exc:  # reset or dropped while waiting for the answer
        why = f"connection to {_endpoint(url)} failed: {exc}"
        return Outcome(False, True, redact(why, secrets), unreachable=True)
    except http.client.HTTPException as exc:  # something answered, but not in HTTP
        said = str(exc).strip()[:200]  # a status line that is not HTTP's, e.g. SMTP's "220 …"
        why = (
            f"no HTTP answer from {_endpoint(url)} ({type(exc).__name__}: {said});"
            " is the URL's port an HTTP one?"
        )
        return Outcome(False, True, redact(why, secrets), unreachable=True)
    except ValueError as exc:  # malformed URL: retrying will not fix configuration
        return Outcome(False, False, redact(f"bad URL: {exc}", secrets))


def _endpoint(url: str) -> str:
    """``host:port`` of ``url`` for a failure's reason: which receiver address failed, without
    the path or query (where a webhook's token may sit) or any user:password."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, "")
    except ValueError:
        return "the receiver URL"
    return f"{parts.hostname}:{port}" if parts.hostname else "the receiver URL"
