"""The whole path on the real services: SDK -> Kafka -> Pinot -> ``rules eval`` -> an email
through a real SMTP server and a page through a real HTTP receiver, then the resolve.

Every part was tested on its own (the parity suite for SDK -> Pinot, the CLI delivery tests on
DuckDB, the notifier suites against real receivers), but nothing ran a YAML rule against Pinot
and delivered what it found, which is the product's headline path. The same events are
teed into DuckDB, and the rule must find the same alert on both stores.

The traffic is three simulated hours of the demo's ``fraud`` model, whose v3 canary gets a
slow tail three hours before the end (``modelhealth.demo.incidents``): p99 climbs over
250 ms while p50 stays put. Then v3 recovers for 40 minutes and the alert must resolve.
Tables and topics live in a random namespace dropped at the end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.pager_inbox import PagerInbox
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.kafka_sink import KafkaSink
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.rules.cli import rules_main
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.store.pinot import PinotStore
from tests.integration.test_pipeline_parity import TeeSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 1, tzinfo=UTC)
RECOVERED = T0 + timedelta(minutes=40)

RULES = """\
model: fraud
owners: [fraud-oncall@example.com]
rules:
  - name: p99-latency
    metric: latency.p99
    window: 30m
    group_by: [version]
    detector: {type: threshold, above: 150}
    severity: critical
"""

ROUTING = """\
route:
  receiver: email
  group_by: [model, alertname]
  group_wait: 0s
  group_interval: 1m
  routes:
    - matchers: [severity=critical]
      receiver: pager
      continue: true
    - receiver: email
receivers:
  - name: email
    email: {{to: [ml-oncall@example.com], send_resolved: true}}
  - name: pager
    pagerduty: {{url: "{pager_url}", routing_key_env: E2E_PAGER_KEY}}
"""


@pytest.fixture(scope="module")
def stores(jvm_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The fraud model's traffic in Pinot (through Kafka) and in a DuckDB file, alike."""
    namespace = f"e2e{uuid.uuid4().hex[:8]}_"
    init_pinot(namespace)
    db = tmp_path_factory.mktemp("e2e") / "h.duckdb"
    duck = DuckDBStore(db)
    tee = TeeSink(KafkaSink(namespace=namespace), DuckDBSink(duck))
    model = fleet()["fraud"]
    refs = {"fraud": build_reference("fraud", *training_sample(model))}
    monitor = Monitor(tee, refs, clock=FakeClock(T0))
    backfill(monitor, {"fraud": model}, T0, days=3 / 24)
    _recover(monitor)
    monitor.close()
    produced = {
        name: int(duck._query(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0]) for name in TABLES
    }
    duck.close()
    pinot = PinotStore(namespace=namespace)
    try:
        for name, n in produced.items():
            pinot.wait_for_rows(name, n, timeout=180)
        yield {"namespace": namespace, "broker": pinot.broker_url, "db": db, "rows": produced}
    finally:
        pinot.close()
        drop_pinot(namespace)


def _recover(monitor: Monitor) -> None:
    """40 minutes of v3 traffic without the slow tail after T0 (p99 near 30 ms)."""
    rng = np.random.default_rng(3)
    n = 2400
    monitor.log_batch(
        model="fraud",
        version="v3",
        features={"amount": rng.gamma(2.0, 30.0, n)},
        score=rng.random(n),
        latency_ms=rng.gamma(4.0, 3.0, n),
        ts_ms=to_epoch_ms(T0) + np.sort(rng.integers(0, 40 * 60_000, n)).astype(np.int64),
        host="host-a",
    )


@pytest.fixture
def receivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A real SMTP server and a real Events v2 receiver on loopback, and a routing file."""
    mailbox = LocalMailbox(tmp_path / "mail").start()
    pager = PagerInbox(tmp_path / "pages.jsonl").start()
    monkeypatch.setenv("MODELHEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MODELHEALTH_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("E2E_PAGER_KEY", "e2e-routing-key")
    (tmp_path / "routing.yaml").write_text(ROUTING.format(pager_url=pager.url))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "fraud.yaml").write_text(RULES)
    try:
        yield {"mail": mailbox, "pager": pager}
    finally:
        pager.stop()
        mailbox.stop()


def _eval(tmp_path: Path, backend: list[str], at: datetime, state: str) -> int:
    return rules_main(
        [
            "eval",
            *backend,
            "--at",
            at.isoformat(),
            "--state",
            str(tmp_path / state / "alerts.json"),
            "--routing",
            str(tmp_path / "routing.yaml"),
            str(tmp_path / "rules"),
        ]
    )


def _pinot(stores: dict) -> list[str]:
    return ["--backend", "pinot", "--broker", stores["broker"], "--namespace", stores["namespace"]]


def test_a_rule_on_pinot_emails_and_pages_then_resolves(
    stores: dict, receivers: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval(tmp_path, _pinot(stores), T0, "pinot") == 0
    out = capsys.readouterr().out
    assert "FIRING" in out and "version=v3" in out, out
    assert "version=v1" not in out and "version=v2" not in out  # only the canary regressed

    (mail,) = receivers["mail"].messages()
    assert "p99-latency" in str(mail["Subject"]) and "fraud" in str(mail["Subject"])
    assert mail["To"] == "ml-oncall@example.com"
    (page,) = receivers["pager"].events()
    assert page["event_action"] == "trigger"
    assert page["routing_key"] == "e2e-routing-key"
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["summary"].startswith("latency.p99 on fraud: ")
    details = json.dumps(page["payload"].get("custom_details", {}))
    assert "v3" in details

    assert _eval(tmp_path, _pinot(stores), RECOVERED, "pinot") == 0
    assert "FIRING" not in capsys.readouterr().out
    pages = receivers["pager"].events()
    assert [p["event_action"] for p in pages] == ["trigger", "resolve"]
    assert pages[1]["dedup_key"] == page["dedup_key"]  # resolves the incident it opened
    mails = receivers["mail"].messages()
    assert len(mails) == 2 and "RESOLVED" in str(mails[1]["Subject"]).upper()


def test_the_rule_finds_the_same_alert_on_pinot_and_on_duckdb(
    stores: dict, receivers: dict, tmp_path: Path
) -> None:
    """Same answers on both stores, here as the rules engine sees them: the alert state each
    eval writes (labels and value) must agree, the value within Pinot's percentile error."""
    assert _eval(tmp_path, _pinot(stores), T0, "pinot") == 0
    assert _eval(tmp_path, ["--db", str(stores["db"])], T0, "duck") == 0
    pinot = _firing(tmp_path / "pinot" / "alerts.json")
    duck = _firing(tmp_path / "duck" / "alerts.json")
    assert pinot.keys() == duck.keys() and len(pinot) == 1
    (key,) = pinot
    assert pinot[key] == pytest.approx(duck[key], rel=0.05)
    assert pinot[key] > 150


def _firing(path: Path) -> dict[str, float]:
    """Firing alerts in a state file (state 2): their labels -> value."""
    return {
        json.dumps(entry["alert"]["labels"], sort_keys=True): float(entry["alert"]["value"])
        for entry in json.loads(path.read_text())
        if entry["alert"]["state"] == 2
    }
