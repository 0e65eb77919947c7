"""QA findings on notifiers, against real HTTP servers on loopback: a URL that can never work
fails for good (5), secrets from ``*_env`` URLs redacted in pieces (6), Retry-After honoured
(8), Slack resolves say why they resolved instead of repeating the firing text (10)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelhealth.alerting.notifiers.base import (
    MAX_RETRY_AFTER,
    NotificationBatch,
    post_json,
    redact,
)
from modelhealth.alerting.notifiers.slack import SlackConfig, SlackNotifier
from modelhealth.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier
from tests.conftest import free_port

from .conftest import T0, firing, resolved


class Answering:
    """A real HTTP server answering every POST with ``status``, ``headers`` and, when
    ``echo`` is set, a body echoing the request path (as the QA receiver's 404 did)."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self.echo = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = f"no route for path={self.path}".encode() if outer.echo else b"{}"
                self.send_response_only(outer.status)  # no Date of its own: tests set it
                for k, v in outer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Answering]:
    s = Answering()
    yield s
    s.close()


def _batch(alerts: list[dict[str, object]], status: str) -> NotificationBatch:
    return NotificationBatch(
        receiver="chat", group_key="g", dedup_key="d", status=status, reason=status,
        group_labels={"model": "fraud"}, alerts=alerts, created_at=T0.isoformat(),
    )  # fmt: skip


# -- 5: a URL that can never work -------------------------------------------------------------


@pytest.mark.parametrize("url", ["htp://127.0.0.1:9/alerts", "127.0.0.1:9/alerts"])
def test_a_url_without_http_scheme_fails_for_good(url: str) -> None:
    out = post_json(url, {"x": 1}, timeout=0.5)
    assert not out.ok and not out.retryable
    assert out.reason.startswith("bad URL: unknown url type")


def test_a_refused_connection_is_still_retried() -> None:
    # a port nothing listens on (port 9, used before, may run a discard service)
    port = free_port()
    out = post_json(f"http://user:pw@127.0.0.1:{port}/alerts?token=s3cret", {"x": 1}, timeout=5)
    assert not out.ok and out.retryable
    # the reason names the address that failed, never the URL's path, query or password
    assert out.reason.startswith(f"connection to 127.0.0.1:{port} failed")
    assert "s3cret" not in out.reason and "pw" not in out.reason


# -- 6: secrets in URL paths and queries ----------------------------------------------------------


def test_secret_url_path_and_query_echoed_by_the_receiver_are_redacted(server: Answering) -> None:
    """The repro: a 404 echoing the path put /services/T000/SLACKSECRETPATH and
    token=HookUrlSecret42 into the log and the outbox's last_error."""
    server.status, server.echo = 404, True
    env = {
        "SLACK": f"{server.base}/services/T000/SLACKSECRETPATH",
        "HOOK": f"{server.base}/hook?token=HookUrlSecret42",
    }
    batch = _batch([firing().to_dict()], "firing")
    for notifier in (
        SlackNotifier(SlackConfig(url_env="SLACK", timeout=2), env=env),
        WebhookNotifier(WebhookConfig(url_env="HOOK", timeout=2), env=env),
    ):
        out = notifier.notify(batch)
        assert out.reason.startswith("HTTP 404: no route for path=<redacted>")
        assert "SLACKSECRETPATH" not in out.reason and "HookUrlSecret42" not in out.reason


def test_redact_hides_long_segments_and_values_but_not_the_host() -> None:
    url = "https://hooks.example.com/services/T000/B0123456789/abcdefghijklmnop?sig=Zx9Zx9Zx9Zx9"
    text = "POST https://hooks.example.com: T000/B0123456789 and abcdefghijklmnop, sig Zx9Zx9Zx9Zx9"
    out = redact(text, [url])
    assert "B0123456789" not in out and "abcdefghijklmnop" not in out and "Zx9Zx9Zx9Zx9" not in out
    assert "hooks.example.com" in out and "T000" in out
    assert redact(f"key {'k' * 20}!", ["k" * 20]) == "key <redacted>!"  # non-URL secrets as before


# -- 8: Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_read_on_429_and_503(server: Answering, status: int) -> None:
    server.status, server.headers = status, {"Retry-After": "30"}
    out = post_json(server.base + "/x", {}, timeout=2)
    assert out.retryable and out.retry_after == timedelta(seconds=30)
    assert "retry after 30s" in out.reason


def test_retry_after_http_date_counts_from_the_response_date(server: Answering) -> None:
    sent = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)  # far from our clock: the server's counts
    server.status = 429
    server.headers = {
        "Retry-After": format_datetime(sent + timedelta(minutes=2), usegmt=True),
        "Date": format_datetime(sent, usegmt=True),
    }
    assert post_json(server.base + "/x", {}, timeout=2).retry_after == timedelta(minutes=2)


def test_retry_after_is_capped_and_ignored_when_unreadable_or_on_other_statuses(
    server: Answering,
) -> None:
    server.status, server.headers = 429, {"Retry-After": "86400"}
    assert post_json(server.base + "/x", {}, timeout=2).retry_after == MAX_RETRY_AFTER
    server.headers = {"Retry-After": "soon"}
    assert post_json(server.base + "/x", {}, timeout=2).retry_after is None
    server.status, server.headers = 500, {"Retry-After": "30"}
    out = post_json(server.base + "/x", {}, timeout=2)
    assert out.retryable and out.retry_after is None


# -- 10: Slack resolve text -----------------------------------------------------------------------


def test_slack_resolve_shows_why_it_resolved_not_the_firing_comparison() -> None:
    """A deleted rule's resolve kept the summary "latency.p99 on m1: 300 > 100"."""
    fire = firing(name="p99", model="m1")
    fire = type(fire)(**{**fire.__dict__, "annotations": {
        **fire.annotations, "summary": "latency.p99 on m1: 300 > 100",
        "detail": "its rule was removed from the configs"}})  # fmt: skip
    gone = resolved(fire, T0 + timedelta(minutes=5)).to_dict()
    slack = SlackNotifier(SlackConfig(url="http://127.0.0.1:9/x"), env={})
    text = slack.payload(_batch([gone], "resolved"))["attachments"][0]["text"]
    assert text.splitlines()[0] == "• p99 on m1 resolved: its rule was removed from the configs"
    assert "300 &gt; 100" not in text  # Slack's escaping of ">" (round 23c)
    firing_text = slack.payload(_batch([fire.to_dict()], "firing"))["attachments"][0]["text"]
    assert firing_text.startswith("• latency.p99 on m1: 300 &gt; 100")
