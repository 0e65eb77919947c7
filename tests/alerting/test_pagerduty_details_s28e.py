"""What the pager shows of each firing alert, through a real HTTP receiver as strict as
PagerDuty's JSON parser.

``custom_details`` carried the alert's raw float (``351.5879821479375``) and none of what
it was measured against, so the page said a p99 was 351.5879821479375 but not that the
threshold was 100; an alert whose value is NaN was encoded as ``NaN``, which is not JSON,
and a strict receiver refused the whole event with a 400 (final: the page was lost).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import firing
from .test_pager import KEY, pager_routing


class StrictReceiver:
    """Answers 202 to a body that is RFC 8259 JSON and 400 to anything else (NaN, Infinity),
    as the Events API does; keeps the accepted events."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.refused: list[bytes] = []
        outer = self

        def no_constants(name: str) -> object:
            raise ValueError(f"{name} is not JSON")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    outer.events.append(json.loads(body, parse_constant=no_constants))
                    status = 202
                except ValueError:
                    outer.refused.append(body)
                    status = 400
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"ok"}' if status == 202 else b'{"error":"bad"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def strict() -> Iterator[StrictReceiver]:
    r = StrictReceiver()
    yield r
    r.close()


def _dispatcher(url: str, clock: FakeClock) -> Dispatcher:
    env = {"MODELHEALTH_PAGERDUTY_ROUTING_KEY": KEY}
    pager = PagerDutyNotifier(PagerDutyConfig(url=url, timeout=10.0), env=env)
    cfg = parse_routing(pager_routing(url))
    return Dispatcher(cfg, {"pager": pager}, ":memory:", clock, rng=random.Random(7))


def test_details_show_the_value_as_written_beside_its_threshold(
    strict: StrictReceiver, clock: FakeClock
) -> None:
    d = _dispatcher(strict.url, clock)
    p99 = firing("p99-latency", severity="critical", metric="latency.p99", value=351.5879821479375)
    p99 = replace(p99, annotations={**p99.annotations, "value": "351.588", "threshold": "100"})
    p99.annotations["baseline"] = "reference"
    for _ in range(3):
        d([p99], clock.advance(seconds=30))
    assert not strict.refused
    (event,) = strict.events
    (shown,) = event["payload"]["custom_details"]["firing"]  # type: ignore[index]
    assert shown["value"] == 351.588  # as the rule wrote it, not 351.5879821479375
    assert shown["threshold"] == 100 and shown["baseline"] == "reference"


def test_an_alert_without_a_number_still_pages(strict: StrictReceiver, clock: FakeClock) -> None:
    d = _dispatcher(strict.url, clock)
    blind = firing("rules-blind", severity="critical", value=float("nan"))
    blind = replace(blind, annotations={k: v for k, v in blind.annotations.items() if k != "value"})
    for _ in range(3):
        d([blind], clock.advance(seconds=30))
    assert not strict.refused, strict.refused[:1]
    (event,) = strict.events
    assert event["event_action"] == "trigger"
    (shown,) = event["payload"]["custom_details"]["firing"]  # type: ignore[index]
    assert shown["value"] is None and shown["threshold"] == 0.2
    assert [r.status for r in d.outbox.rows()] == ["sent"]
