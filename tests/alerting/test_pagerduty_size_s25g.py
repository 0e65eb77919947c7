"""PagerDuty Events v2 limits, against a real HTTP receiver on loopback that enforces them as
PagerDuty does: an event over 512 KB is refused with a 400, which is final."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock
from modelhealth.types import Alert, AlertState

from .conftest import T0

KEY = "R0UT1NGKEY-secret-123"
PD_LIMIT = 512 * 1024
WITHIN = 512_000  # the notifier's own bound: under 512 KB whichever KB PagerDuty means
TOO_LARGE = b'{"status":"invalid event","message":"Event object is invalid","errors":["too large"]}'


class PagerDutyLike:
    """A real HTTP server that answers as Events v2 does: 202 for an event within 512 KB,
    400 with PagerDuty's error body for a larger one (or for every one, with ``reject``).
    Keeps every accepted event and the size of every request."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.reject = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.sizes.append(len(body))
                ok = len(body) <= PD_LIMIT and not outer.reject
                if ok:
                    outer.events.append(json.loads(body))
                answer = b'{"status":"success"}' if ok else TOO_LARGE
                self.send_response(202 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pd() -> Iterator[PagerDutyLike]:
    server = PagerDutyLike()
    yield server
    server.close()


def _routing(url: str) -> str:
    return f"""
global:
  dashboard_url: http://dash.example
  min_backoff: 10s
  max_backoff: 2m
  expire_after: 1h
route:
  receiver: pager
  group_by: [model]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: pager
    pagerduty: {{url: "{url}"}}
"""


def _dispatcher(url: str, clock: FakeClock) -> Dispatcher:
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=url), env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY}
    )
    routing = parse_routing(_routing(url))
    return Dispatcher(routing, {"pager": pager}, ":memory:", clock, rng=random.Random(7))


def _alert(i: int, description: str = "", model: str = "fraud", summary: str = "") -> Alert:
    return Alert(
        labels={
            "alertname": "feature_drift",
            "model": model,
            "severity": "critical",
            "feature": f"f{i:04d}",
        },
        annotations={"summary": summary or f"drift of f{i:04d}", "description": description},
        state=AlertState.FIRING,
        value=0.5,
        active_at=T0,
        fired_at=T0,
    )


def _page(pd: PagerDutyLike, alerts: list[Alert], clock: FakeClock) -> Dispatcher:
    d = _dispatcher(pd.url, clock)
    d(alerts, clock.now())
    d(alerts, clock.advance(seconds=30))  # group_wait over: the group is sent
    return d


def test_a_group_too_large_for_one_event_still_pages_with_the_first_alerts_whole(
    pd: PagerDutyLike, clock: FakeClock
) -> None:
    """300 alerts with 3 KB descriptions (about 1 MB of details) page as one event within
    512 KB: the first alerts whole, the rest counted with a link to see them all."""
    alerts = [_alert(i, f"feature f{i:04d} drifted: " + "d" * 3000) for i in range(300)]
    d = _page(pd, alerts, clock)
    assert len(pd.events) == 1, f"refused: sizes {pd.sizes}"
    assert pd.sizes[0] <= WITHIN
    details = pd.events[0]["payload"]["custom_details"]
    shown = details["firing"]
    assert 100 < len(shown) < 300  # as many as fit, not a token few
    assert [a["labels"]["feature"] for a in shown] == [f"f{i:04d}" for i in range(len(shown))]
    assert all(
        a["description"] == alerts[i].annotations["description"] for i, a in enumerate(shown)
    )
    assert details["num_firing"] == 300
    note = details["not_shown"]
    assert note.startswith(f"{300 - len(shown)} more alerts not shown, see ")
    assert note.split("see ", 1)[1].startswith("http://dash.example/model?model=fraud&from=")
    (row,) = d.outbox.rows()
    assert row.status == "sent"


def test_an_event_within_the_limit_is_sent_unchanged(pd: PagerDutyLike, clock: FakeClock) -> None:
    """A group that fits keeps every alert's details and has no ``not_shown`` note."""
    _page(pd, [_alert(i, "short") for i in range(20)], clock)
    details = pd.events[0]["payload"]["custom_details"]
    assert len(details["firing"]) == 20 and "not_shown" not in details


def test_a_single_huge_label_value_still_pages(pd: PagerDutyLike, clock: FakeClock) -> None:
    """Even one alert whose label values alone exceed 512 KB is paged, its texts cut."""
    alert = _alert(0, "x" * 300_000, model="m" * 600_000)
    _page(pd, [alert], clock)
    assert len(pd.events) == 1, f"refused: sizes {pd.sizes}"
    assert pd.sizes[0] <= WITHIN
    event = pd.events[0]
    assert event["routing_key"] == KEY and event["event_action"] == "trigger"
    assert event["payload"]["custom_details"]["num_firing"] == 1


def test_non_ascii_details_are_measured_as_sent(pd: PagerDutyLike, clock: FakeClock) -> None:
    """Non-ASCII text is sent as \\u escapes (6 bytes a character): the limit is on those
    bytes, not on the number of characters."""
    alerts = [_alert(i, "模型漂移" * 400) for i in range(200)]  # 1600 chars, ~9.6 KB sent each
    _page(pd, alerts, clock)
    assert len(pd.events) == 1, f"refused: sizes {pd.sizes}"
    assert pd.sizes[0] <= WITHIN


def test_a_long_summary_is_cut_to_1024_characters_with_an_ellipsis(
    pd: PagerDutyLike, clock: FakeClock
) -> None:
    """Events v2 keeps 1024 characters of ``summary``; cut here, the cut is visible."""
    _page(pd, [_alert(0, summary="s" * 5000)], clock)
    summary = pd.events[0]["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…") and summary.startswith("sss")


def test_a_400_is_not_retried_and_is_logged_with_the_receivers_reason(
    pd: PagerDutyLike, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is final for that notification (not retried after its backoff), and the log
    line and the outbox row carry PagerDuty's own explanation."""
    pd.reject = True
    with caplog.at_level(logging.WARNING, logger="modelhealth.alerting"):
        d = _page(pd, [_alert(0)], clock)
    (row,) = d.outbox.rows()
    assert row.status == "failed" and "HTTP 400" in row.last_error
    assert "Event object is invalid" in row.last_error
    (line,) = [r.getMessage() for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert "Event object is invalid" in line and line.endswith("(failed)")
    d([_alert(0)], clock.advance(seconds=20))  # past the 10s backoff, before group_interval
    assert len(pd.sizes) == 1
