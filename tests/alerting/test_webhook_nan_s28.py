"""A webhook notification of an alert whose value is NaN reaches a strict JSON receiver.

The webhook payload (Alertmanager's shape) carries each alert's raw ``value``; a NaN (a
rule over an empty window, a ratio to 0) was encoded as the bare token ``NaN``, which is not
JSON, and a receiver with a strict parser answered 400, a final answer: the notification
was lost. ``encode_json`` now sends every non-finite float as ``null``, for every JSON
receiver (webhook, Slack, PagerDuty).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.base import encode_json
from modelhealth.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import FakeClock

from .conftest import firing
from .test_pagerduty_details_s28e import StrictReceiver

ROUTING = """
route:
  receiver: hook
  group_by: [model]
  group_wait: 30s
receivers:
  - name: hook
    webhook: {{url: "{url}"}}
"""


@pytest.fixture
def strict() -> Iterator[StrictReceiver]:
    r = StrictReceiver()
    yield r
    r.close()


def test_a_nan_value_reaches_a_strict_webhook_receiver_as_null(
    strict: StrictReceiver, clock: FakeClock
) -> None:
    cfg = parse_routing(ROUTING.format(url=strict.url))
    hook = WebhookNotifier(WebhookConfig(url=strict.url, timeout=10.0))
    d = Dispatcher(cfg, {"hook": hook}, ":memory:", clock, rng=random.Random(7))
    blind = firing("rules-blind", severity="critical", value=float("nan"))
    for _ in range(3):
        d([blind], clock.advance(seconds=30))
    assert not strict.refused, strict.refused[:1]
    (payload,) = strict.events
    (alert,) = payload["alerts"]  # type: ignore[misc]
    assert alert["value"] is None and alert["labels"]["alertname"] == "rules-blind"
    assert [r.status for r in d.outbox.rows()] == ["sent"]


def test_non_finite_floats_anywhere_are_null_and_the_rest_unchanged() -> None:
    payload = {
        "a": float("inf"),
        "b": [1.5, float("-inf"), {"c": float("nan"), "d": "nan"}],
        "e": (2, float("nan")),
        "f": 0.1,
    }
    body = encode_json(payload)
    assert json.loads(body) == {
        "a": None,
        "b": [1.5, None, {"c": None, "d": "nan"}],
        "e": [2, None],
        "f": 0.1,
    }
    finite = {"x": 351.5879821479375, "y": [1, 2]}
    assert encode_json(finite) == json.dumps(finite).encode()  # ordinary payloads as before
