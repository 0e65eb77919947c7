"""``rules run`` reloads its routing file without a restart, as Alertmanager reloads its config.

Before, ``--routing`` was read once at start-up: an on-call owner who added a receiver or
changed a route had to restart the scheduler. Now the file is watched like the rule files (and
reloaded on SIGHUP and ``POST /-/reload``); a file that does not load keeps the running routing;
open groups, the outbox and the notification log carry over.

The daemon tests run a real ``rules run`` process against real HTTP receivers; the dispatcher
tests drive a real :class:`Dispatcher` (SQLite outbox, real webhook receivers) on a FakeClock.
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.pipeline import Dispatcher, FlushReport, RoutingChange, build_receivers
from modelhealth.clock import FakeClock
from modelhealth.rules.selfmetrics import EngineMetrics
from tests.alerting.conftest import T0, Receiver, firing
from tests.rules.test_run_daemon import (
    BROKEN,
    LOUD,
    QUIET,
    _metric,
    _rules_run,
    _scrape,
    _until,
    _value,
    write_live_store,
)

ROUTING_OK = 'modelhealth_rules_config_reloads_total{config="routing",result="success"}'
ROUTING_FAILED = 'modelhealth_rules_config_reloads_total{config="routing",result="failure"}'
RULES_OK = 'modelhealth_rules_config_reloads_total{config="rules",result="success"}'
ROUTING_ERRORS = 'modelhealth_rules_config_errors{config="routing"}'
ROUTING_GOOD = 'modelhealth_rules_config_last_reload_successful{config="routing"}'


def _routing(receiver: str, webhook: str) -> str:
    """Every alert to ``receiver`` (a webhook given as ``webhook``), paged within a second."""
    return f"""route:
  receiver: {receiver}
  group_by: [model, alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: {receiver}
    webhook: {webhook}
"""


# route to a receiver that is not declared, and a URL that is not one: two errors, with lines
BROKEN_ROUTING = """route:
  receiver: nobody
  group_wait: 1s
receivers:
  - name: old
    webhook: {url: "htp://127.0.0.1/hook"}
"""


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    old, new = Receiver(), Receiver()
    yield old, new
    old.close()
    new.close()


@pytest.fixture
def store(tmp_path: Path, fleet_refs) -> Path:
    return write_live_store(tmp_path / "live.duckdb", fleet_refs)


def _daemon_files(tmp_path: Path, routing: str) -> tuple[Path, Path]:
    """A rules folder whose one rule does not fire yet, and the routing file."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(QUIET)
    path = tmp_path / "routing.yaml"
    path.write_text(routing)
    return rules, path


def _post(port: int, path: str = "/-/reload") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_edited_routing_sends_the_next_alert_to_the_new_receiver(
    tmp_path: Path, store: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """The new receiver's URL comes from a variable only the edited file names: a reload
    reads the environment again."""
    old, new = receivers
    rules, routing = _daemon_files(tmp_path, _routing("old", f'{{url: "{old.url}"}}'))
    env = {"S20_NEW_HOOK_URL": new.url}
    args = ("--interval", "2s", "--routing", str(routing))
    with _rules_run(tmp_path, store, rules, *args, env=env) as (_, port):
        assert _metric(port, ROUTING_GOOD) == 1 and _metric(port, ROUTING_OK) == 0

        routing.write_text(_routing("new", "{url_env: S20_NEW_HOOK_URL}"))
        _until(lambda: _metric(port, ROUTING_OK) == 1, "the edited routing to load")
        (rules / "fraud.yaml").write_text(LOUD)  # the next alert
        _until(lambda: bool(new.bodies), "the alert at the new receiver")

        assert new.bodies[0]["receiver"] == "new" and new.bodies[0]["status"] == "firing"
        assert old.attempts == 0  # the old receiver hears nothing of it
        sent = 'modelhealth_notifications{receiver="new",status="sent"}'
        _until(lambda: _metric(port, sent) == 1, "the outbox to count it sent")
    log = (tmp_path / "run.log").read_text()
    assert "reloaded routing" in log and "1 receiver(s) added" in log
    assert new.url not in log  # a secret from the environment is not logged


def test_a_broken_routing_keeps_the_running_one_and_counts_the_failure(
    tmp_path: Path, store: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    old, _ = receivers
    rules, routing = _daemon_files(tmp_path, _routing("old", f'{{url: "{old.url}"}}'))
    args = ("--interval", "2s", "--routing", str(routing))
    with _rules_run(tmp_path, store, rules, *args) as (_, port):
        routing.write_text(BROKEN_ROUTING)
        _until(lambda: _metric(port, ROUTING_FAILED) == 1, "the broken routing's reload")
        text = _scrape(port)[1]
        assert _value(text, ROUTING_ERRORS) == 2 and _value(text, ROUTING_GOOD) == 0
        # told apart from the rule files, which are fine
        assert _value(text, 'modelhealth_rules_config_errors{config="rules"}') == 0
        assert _value(text, 'modelhealth_rules_config_last_reload_successful{config="rules"}') == 1
        assert _scrape(port, "/-/ready")[0] == 200  # the running routing still delivers

        (rules / "fraud.yaml").write_text(LOUD)
        _until(lambda: bool(old.bodies), "the alert at the running routing's receiver")
        assert old.bodies[0]["receiver"] == "old"
    log = (tmp_path / "run.log").read_text()
    assert f"{routing}:2:3: route root: receiver: unknown receiver 'nobody'" in log, log
    assert f'{routing}:6:20: receiver "old": webhook.url: \'htp://' in log  # the bad URL
    assert "the running routing stays" in log


def test_post_reload_reloads_rules_and_routing_and_answers_500_with_the_errors(
    tmp_path: Path, store: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    old, _ = receivers
    good_routing = _routing("old", f'{{url: "{old.url}"}}')
    rules, routing = _daemon_files(tmp_path, good_routing)
    args = ("--interval", "2s", "--routing", str(routing))
    with _rules_run(tmp_path, store, rules, *args) as (_, port):
        assert _post(port) == (200, "reloaded\n")  # nothing changed: both reloaded anyway
        text = _scrape(port)[1]
        assert _value(text, RULES_OK) == 1 and _value(text, ROUTING_OK) == 1

        routing.write_text(BROKEN_ROUTING)
        code, body = _post(port)
        assert code == 500, body
        assert f"{routing}:2:3: route root: receiver: unknown receiver 'nobody'" in body

        routing.write_text(good_routing)
        (rules / "fraud.yaml").write_text(BROKEN)
        code, body = _post(port)
        assert code == 500 and "fraud.yaml:" in body and "window" in body, body
        assert str(routing) not in body  # the routing loaded this time

        (rules / "fraud.yaml").write_text(QUIET)
        assert _post(port)[0] == 200
        assert _scrape(port, "/-/reload")[0] == 405  # a GET does not reload
        assert _scrape(port, "/-/ready")[0] == 200


# -- the dispatcher's side: what carries over a reload ----------------------------------------

ONCALL = """route:
  receiver: oncall
  group_by: [model, alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: {repeat}
{extra_routes}receivers:
  - {{name: oncall, webhook: {{url: "{oncall}"}}}}
{extra_receivers}"""


def _oncall(url: str, repeat: str = "4h", other: str = "") -> str:
    """One route to ``oncall``; with ``other``, an unrelated route above it for ranker."""
    extra_routes = extra_receivers = ""
    if other:
        extra_routes = "  routes:\n    - {matchers: [model=ranker], receiver: other}\n"
        extra_receivers = f'  - {{name: other, webhook: {{url: "{other}"}}}}\n'
    return ONCALL.format(
        repeat=repeat, oncall=url, extra_routes=extra_routes, extra_receivers=extra_receivers
    )


def _dispatcher(routing: str, db: Path, clock: FakeClock) -> Dispatcher:
    config = parse_routing(routing, "routing.yaml")
    receivers = build_receivers(config, env={})
    return Dispatcher(config, receivers.notifiers, db, clock, receiver_settings=receivers.settings)


def _reconfigure(d: Dispatcher, routing: str, env: dict[str, str] | None = None) -> RoutingChange:
    config = parse_routing(routing, "routing.yaml")
    return d.reconfigure(config, build_receivers(config, env=env or {}), d.clock.now())


def _tick(d: Dispatcher, clock: FakeClock, alert: Any, at: datetime) -> FlushReport:
    """What a tick of the rules engine does with a firing ``alert`` at ``at``."""
    clock.set(at)
    d.ingest([alert], at)
    return d.flush(at)


def test_a_reload_that_leaves_a_route_alone_keeps_its_open_incident(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """An unrelated route and receiver added above it, and a shorter repeat_interval: the open
    incident is not paged again (same group, same dedup key), its running notifier is kept,
    and the new repeat_interval applies to it."""
    oncall, other = receivers
    clock = FakeClock(T0)
    d = _dispatcher(_oncall(oncall.url), tmp_path / "alerts.db", clock)
    alert = firing()
    _tick(d, clock, alert, T0)
    _tick(d, clock, alert, T0 + timedelta(seconds=10))
    assert len(oncall.bodies) == 1
    notifier = d.notifiers["oncall"]

    change = _reconfigure(d, _oncall(oncall.url, repeat="5m", other=other.url))
    assert (change.added, change.kept, change.rebuilt) == (("other",), ("oncall",), ())
    assert change.groups_kept == 1 and not change.groups_dropped
    assert d.notifiers["oncall"] is notifier

    for minute in range(1, 5):  # the rules engine re-reports it every minute
        _tick(d, clock, alert, T0 + timedelta(seconds=10, minutes=minute))
    assert len(oncall.bodies) == 1  # no second page for the open incident
    _tick(d, clock, alert, T0 + timedelta(seconds=10, minutes=5))
    assert len(oncall.bodies) == 2  # repeat_interval is now 5m (it was 4h)
    first, repeat = oncall.bodies
    assert repeat["reason"] == "repeat_interval"
    assert (repeat["groupKey"], repeat["dedupKey"]) == (first["groupKey"], first["dedupKey"])
    assert other.attempts == 0


def test_a_removed_receivers_queued_notification_is_dropped_with_the_reason(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """Its alerts go on to the receiver that replaced it; the old endpoint is not tried again,
    and the outbox says why the notification was not delivered."""
    old, new = receivers
    old.script = [503]  # the first attempt fails: the notification waits for its retry
    db = tmp_path / "alerts.db"
    clock = FakeClock(T0)
    d = _dispatcher(_routing("old", f'{{url: "{old.url}"}}'), db, clock)
    alert = firing()
    _tick(d, clock, alert, T0)
    report = _tick(d, clock, alert, T0 + timedelta(seconds=1))
    assert report.delivery.retrying and old.attempts == 1

    change = _reconfigure(d, _routing("new", f'{{url: "{new.url}"}}'))
    assert change.removed == ("old",) and change.dropped_notifications == 1
    assert len(change.groups_dropped) == 1

    # well before the retry's backoff
    report = _tick(d, clock, alert, T0 + timedelta(seconds=2))
    assert report.delivery.failed and old.attempts == 1  # dropped, not sent to the old URL
    # the replacing receiver is paged at once (the alert is older than its group_wait)
    assert [b["receiver"] for b in new.bodies] == ["new"]
    with sqlite3.connect(db) as con:
        status, error = con.execute(
            "SELECT status, last_error FROM outbox WHERE receiver = 'old'"
        ).fetchone()
    assert status == "failed"
    assert "receiver 'old' was removed from routing.yaml by a reload" in error


def test_a_receiver_is_rebuilt_when_the_variable_it_reads_changes(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """Secrets come from the environment at each reload: the same file with another value
    behind its ``url_env`` gets a new notifier; the same value keeps the running one."""
    first, second = receivers
    routing = _routing("hook", "{url_env: S20_HOOK}")
    config = parse_routing(routing, "routing.yaml")
    built = build_receivers(config, env={"S20_HOOK": first.url})
    clock = FakeClock(T0)
    d = Dispatcher(
        config, built.notifiers, tmp_path / "a.db", clock, receiver_settings=built.settings
    )
    running = d.notifiers["hook"]
    assert _reconfigure(d, routing, env={"S20_HOOK": first.url}).kept == ("hook",)
    assert d.notifiers["hook"] is running
    assert _reconfigure(d, routing, env={"S20_HOOK": second.url}).rebuilt == ("hook",)
    _tick(d, clock, firing(), T0)
    _tick(d, clock, firing(), T0 + timedelta(seconds=1))
    assert len(second.bodies) == 1 and first.attempts == 0


def test_routing_reload_metrics_are_labelled_apart_from_the_rules() -> None:
    metrics = EngineMetrics(FakeClock(T0))
    metrics.config_loaded(3, 0, reload=False)
    metrics.routing_loaded(0, reload=False)
    metrics.routing_loaded(2, reload=True)
    text = metrics.render()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    assert _value(text, ROUTING_FAILED) == 1 and _value(text, ROUTING_ERRORS) == 2
    assert _value(text, ROUTING_GOOD) == 0
    assert _value(text, 'modelhealth_rules_config_last_reload_successful{config="rules"}') == 1
    stamp = 'modelhealth_rules_last_reload_timestamp_seconds{config="routing"}'
    assert _value(text, stamp) == T0.timestamp()
