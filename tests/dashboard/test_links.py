"""Deep links from notifications into the dashboard (``dashboard/links.py``, ``app.py``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.notifiers.webhook import WebhookNotifier
from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.context import DEFAULT_RANGE
from modelhealth.dashboard.links import incident_link, parse_link
from modelhealth.errors import InvalidName
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import Deployment, unescaped
from tests.dashboard.test_app import APP, metrics

NOW = datetime(2026, 11, 26, 3, 40, tzinfo=UTC)
BASE = "https://mh.example.com/"


def _alert(model: str, active: str, resolved: str | None = None) -> dict:
    return {
        "labels": {"alertname": "p99", "model": model, "severity": "critical"},
        "annotations": {},
        "active_at": active,
        "fired_at": active,
        "resolved_at": resolved,
        "fingerprint": model,
    }


def test_a_one_model_incident_links_to_its_model_page_around_the_incident() -> None:
    alerts = [
        _alert("fraud", "2026-11-26T03:05:00+00:00"),
        _alert("fraud", "2026-11-26T02:50:30+00:00"),
    ]
    url = incident_link(BASE, alerts, NOW)
    assert (
        url
        == "https://mh.example.com/model?model=fraud&from=2026-11-26T00%3A50Z&to=2026-11-26T04%3A10Z"
    )
    link = parse_link({"model": "fraud", "from": "2026-11-26T00:50Z", "to": "2026-11-26T04:10Z"})
    assert link is not None and link.model == "fraud"
    assert link.start == datetime(2026, 11, 26, 0, 50, tzinfo=UTC)
    assert link.end == datetime(2026, 11, 26, 4, 10, tzinfo=UTC)


def test_a_resolved_incident_ends_half_an_hour_after_it_resolved() -> None:
    alerts = [_alert("fraud", "2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00+00:00")]
    assert incident_link(BASE, alerts, NOW).endswith("to=2026-11-25T11%3A30Z")


def test_several_models_link_to_the_alerts_page_and_no_base_means_no_link() -> None:
    alerts = [
        _alert("fraud", "2026-11-26T03:05:00+00:00"),
        _alert("churn", "2026-11-26T03:00:00+00:00"),
    ]
    assert incident_link(BASE, alerts, NOW).startswith("https://mh.example.com/alerts?from=")
    assert incident_link("", alerts, NOW) == ""
    assert incident_link(BASE, [], NOW) == BASE


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday", "to": "2026-11-26T04:10Z"}, "from='yesterday' is not a time"),
        ({"from": "2026-11-26T04:10Z"}, "to='' is not a time"),
        ({"from": "2026-11-26T04:10Z", "to": "2026-11-26T04:00Z"}, "is not after"),
    ],
)
def test_malformed_links_name_the_parameter(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_link(params)


def test_a_link_model_is_a_validated_name() -> None:
    with pytest.raises(InvalidName):
        parse_link({"model": "x'; drop", "from": "2026-11-26T00:50Z", "to": "2026-11-26T04:10Z"})
    assert parse_link({"page": "model"}) is None


def _batch(dashboard_url: str) -> NotificationBatch:
    return NotificationBatch(
        receiver="pager", group_key="g", dedup_key="d", status="firing", reason="new_alerts",
        group_labels={"model": "fraud"}, alerts=[_alert("fraud", "2026-11-26T03:05:00+00:00")],
        created_at=NOW.isoformat(), dashboard_url=dashboard_url,
    )  # fmt: skip


def test_pager_and_webhook_payloads_carry_the_deep_link() -> None:
    pager = PagerDutyNotifier(PagerDutyConfig(routing_key_env="PD_KEY"), {"PD_KEY": "k"})
    event = pager.payload(_batch(BASE))
    want = incident_link(BASE, _batch(BASE).alerts, NOW)
    assert event["client_url"] == want and "/model?model=fraud" in want
    assert event["payload"] and event["links"][0]["href"] == want
    hook = WebhookNotifier.payload(_batch(BASE))
    assert hook["externalURL"] == BASE and hook["alerts"][0]["generatorURL"] == want
    assert "client_url" not in pager.payload(_batch(""))


def test_the_dashboard_opens_the_linked_model_and_range(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", *deployment.argv()])
    at = AppTest.from_file(APP, default_timeout=120)
    start, end = T0 - timedelta(hours=5), T0 - timedelta(hours=3)
    at.query_params["model"] = "churn"
    at.query_params["from"] = start.strftime("%Y-%m-%dT%H:%MZ")
    at.query_params["to"] = end.strftime("%Y-%m-%dT%H:%MZ")
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="model").value == "churn"
    assert at.sidebar.selectbox(key="range").value == "From link"
    at.switch_page("views/model.py").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    store = DuckDBStore(deployment.db, read_only=True)
    try:
        n = store.latency(Scope("churn", to_epoch_ms(start), to_epoch_ms(end)))["count"].iloc[0]
    finally:
        store.close()
    assert metrics(at)["Requests"] == f"{int(n):,}"  # the link's two hours, not the default range
    assert at.sidebar.selectbox(key="model").value == "churn"  # kept after changing page


def test_a_broken_link_says_why_and_shows_the_default_view(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", *deployment.argv()])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["from"] = "soon"
    at.query_params["to"] = "later"
    at.run()
    assert not at.exception, at.exception
    assert any("from='soon' is not a time" in unescaped(w.value) for w in at.warning)
    assert at.sidebar.selectbox(key="range").value == DEFAULT_RANGE


def test_a_performance_alert_links_back_to_the_window_it_judged() -> None:
    """An accuracy rule with label_delay: 6h and a 1h window judges the hour that ended 6 h
    before each tick; the link started 2 h before the alert and missed that hour. The alert
    became active at 03:05 (judging 20:05-21:05); its annotations are from the latest tick,
    03:40 (judging 20:40-21:40): the link still starts 2 h before the first judged hour."""
    alert = _alert("fraud", "2026-11-26T03:05:00+00:00")
    alert["annotations"] = {"judged_from": "2026-11-25T20:40:00+00:00"}
    assert "from=2026-11-25T18%3A05Z" in incident_link(BASE, [alert], NOW)


def test_an_unencoded_offset_in_a_link_still_parses() -> None:
    link = parse_link({"from": "2026-11-26T02:00 02:00", "to": "2026-11-26T04:00+02:00"})
    assert link is not None and link.start == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert link.end == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
