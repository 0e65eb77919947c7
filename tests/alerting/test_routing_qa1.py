"""QA findings on routing config: stable group keys (3), receiver URLs and e-mail addresses
checked at load (5), durations too large for a datetime (9)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers.pagerduty import PagerDutyConfig, PagerDutyNotifier
from modelhealth.alerting.notifiers.webhook import WebhookConfig, WebhookNotifier
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.alerting.routing import RouteSpec, find_route, group_key, match_routes
from modelhealth.alerting.silences import silence_main
from modelhealth.clock import FakeClock
from modelhealth.errors import ConfigError
from modelhealth.rules.durations import MAX_DURATION, parse_duration

from .conftest import Receiver, firing, resolved

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
CRIT = {"alertname": "p99", "model": "fraud", "severity": "critical"}

TREE = """
route:
  receiver: pager
  group_by: [model]
  group_wait: 0s
  group_interval: 1m
  routes:
{top}    - receiver: pager
      continue: true
    - receiver: hook
receivers:
  - name: pager
    pagerduty: {{url: "{url}", timeout: 0.5}}
  - name: hook
    webhook: {{url: "http://127.0.0.1:9/hook"}}
  - name: archive
    webhook: {{url: "http://127.0.0.1:9/archive"}}
"""
ARCHIVE_ON_TOP = "    - receiver: archive\n      continue: true\n"


def _keys(text: str) -> dict[str, str]:
    cfg = parse_routing(text, "r.yaml")
    return {r.receiver: group_key(r, CRIT) for r in match_routes(cfg.route, CRIT)}


def _all_routes(route: RouteSpec) -> list[RouteSpec]:
    return [route, *(r for c in route.routes for r in _all_routes(c))]


# -- 3: group keys --------------------------------------------------------------------------------


def test_adding_a_catch_all_route_on_top_keeps_every_other_group_key() -> None:
    """The repro: `/{}/{}` became `/{}/{}#1` when an archive route was put on top, so PD got
    a second trigger under a new dedup key."""
    before = _keys(TREE.format(top="", url="http://127.0.0.1:9/pd"))
    after = _keys(TREE.format(top=ARCHIVE_ON_TOP, url="http://127.0.0.1:9/pd"))
    assert set(after) == {"archive", "pager", "hook"}
    assert after["pager"] == before["pager"]
    assert after["hook"] == before["hook"]
    assert len(set(after.values())) == 3


def test_identical_siblings_keep_distinct_keys_that_an_unrelated_sibling_does_not_shift() -> None:
    tree = """
route:
  receiver: a
  routes:
{top}    - {{receiver: b, continue: true}}
    - {{receiver: b, continue: true}}
receivers:
  - name: a
    webhook: {{url: "http://127.0.0.1:9/a"}}
  - name: b
    webhook: {{url: "http://127.0.0.1:9/b"}}
"""
    unrelated = "    - {matchers: [team=risk], receiver: a, continue: true}\n"
    for top in ("", unrelated, "    - {receiver: a, continue: true}\n"):
        cfg = parse_routing(tree.format(top=top), "r.yaml")
        twins = [r for r in cfg.route.routes if r.receiver == "b"]
        assert [r.key for r in twins] == ["/{}/{}", "/{}/{}#1"]
        assert len({group_key(r, CRIT) for r in twins}) == 2


def test_same_matchers_other_group_by_are_distinct_routes_for_restore() -> None:
    cfg = parse_routing(
        """
route:
  receiver: a
  routes:
    - {receiver: b, group_by: [model], continue: true}
    - {receiver: b, group_by: [model, alertname]}
receivers:
  - name: a
    webhook: {url: "http://127.0.0.1:9/a"}
  - name: b
    webhook: {url: "http://127.0.0.1:9/b"}
""",
        "r.yaml",
    )
    ids = [r.identity for r in _all_routes(cfg.route)]
    assert len(ids) == len(set(ids)) == 3
    two = cfg.route.routes[1]
    assert find_route(cfg.route, two.identity, "b", group_key(two, CRIT)) is two


def test_group_keys_keep_the_format_earlier_versions_persisted() -> None:
    """Open incidents survive the upgrade: a route without a `#n` keeps its group key and
    so its PagerDuty dedup key; a group saved with the old route id finds its route again."""
    cfg = parse_routing(EXAMPLE.read_text(), str(EXAMPLE))
    pager = match_routes(cfg.route, {**CRIT, "team": "risk"})[0]
    key = group_key(pager, CRIT)
    assert key == '/{}/{severity=critical}/pager/[["model","fraud"]]'
    assert find_route(cfg.route, "/{}/{severity=critical}", "pager", key) is pager
    assert find_route(cfg.route, pager.identity, "pager", key) is pager
    assert find_route(cfg.route, "/{}/{severity=critical}", "ml-email", key) is None
    ids = [r.identity for r in _all_routes(cfg.route)]
    assert len(ids) == len(set(ids))


def test_inserting_a_route_does_not_repage_an_open_incident(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    """End to end on one alerts.db: fire under the old config, keep firing and resolve under
    the new one; PagerDuty sees one incident, triggered once and resolved."""
    db = str(tmp_path / "alerts.db")
    pager = PagerDutyNotifier(
        PagerDutyConfig(url=receiver.url, timeout=10),
        env={"MODELHEALTH_PAGERDUTY_ROUTING_KEY": "k"},
    )
    hooks = WebhookNotifier(WebhookConfig(url="http://127.0.0.1:9/never", timeout=0.2))
    notifiers = {"pager": pager, "hook": hooks, "archive": hooks}
    alert = firing(severity="critical")
    for top in ("", ARCHIVE_ON_TOP):
        cfg = parse_routing(TREE.format(top=top, url=receiver.url), "r.yaml")
        d = Dispatcher(cfg, notifiers, db, clock, rng=random.Random(1))
        d([alert], clock.advance(minutes=1))
        d.close()
    cfg = parse_routing(TREE.format(top=ARCHIVE_ON_TOP, url=receiver.url), "r.yaml")
    d = Dispatcher(cfg, notifiers, db, clock, rng=random.Random(1))
    d([resolved(alert, clock.now())], clock.advance(minutes=2))
    d.close()
    actions = [(b["event_action"], b["dedup_key"]) for b in receiver.bodies]
    assert [a for a, _ in actions] == ["trigger", "resolve"]
    assert len({k for _, k in actions}) == 1


# -- 5: receiver URLs and e-mail addresses --------------------------------------------------------

BAD_RECEIVERS = """route:
  receiver: mail
receivers:
  - name: hook
    webhook: {url: "htp://127.0.0.1:18102/alerts"}
  - name: hook2
    slack: {url: "127.0.0.1:18102/alerts"}
  - name: pd
    pagerduty: {url: "http://:80/x"}
  - name: mail
    email:
      to: ["not an email", "oncall@example.com", "bad@@example..com"]
      cc: [a@b]
      from: "Model Health <mh@localhost>"
"""


def test_bad_urls_and_addresses_are_config_errors_with_positions() -> None:
    with pytest.raises(ConfigError) as err:
        parse_routing(BAD_RECEIVERS, "r.yaml")
    lines = str(err.value).splitlines()
    assert lines[0].startswith('r.yaml:5:20: receiver "hook": webhook.url: \'htp://127.0.0.1')
    assert "expected http(s)://host[:port]/path" in lines[0]
    assert lines[1].startswith('r.yaml:7:18: receiver "hook2": slack.url:')
    assert lines[2].startswith('r.yaml:9:22: receiver "pd": pagerduty.url:')
    assert lines[3].startswith("r.yaml:12:12: receiver \"mail\": email.to: 'not an email'")
    assert "expected one address like oncall@example.com" in lines[3]
    assert lines[4].startswith("r.yaml:12:50: receiver \"mail\": email.to: 'bad@@example..com'")
    assert lines[5].startswith("r.yaml:13:12: receiver \"mail\": email.cc: 'a@b'")
    assert len(lines) == 6  # the good address and the named `from` pass


# -- 9: durations too large for a datetime --------------------------------------------------------


@pytest.mark.parametrize("text", ["99999999w", "9999999w", "99999999999w", "521w", "1" * 400 + "s"])
def test_durations_beyond_the_maximum_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"too long: .* maximum duration 520w"):
        parse_duration(text)
    assert parse_duration("520w") == MAX_DURATION


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("group_interval", "9999999w", "r.yaml:4:19: route root: group_interval:"),
        ("repeat_interval", "99999999999w", "r.yaml:4:20: route root: repeat_interval:"),
    ],
)
def test_huge_routing_timers_are_config_errors(field: str, value: str, where: str) -> None:
    text = (
        f"route:\n  receiver: h\n  group_wait: 0s\n  {field}: {value}\n"
        'receivers:\n  - name: h\n    webhook: {url: "http://127.0.0.1:1/x"}\n'
    )
    with pytest.raises(ConfigError, match="too long") as err:
        parse_routing(text, "r.yaml")
    assert str(err.value).startswith(where)


def test_huge_expire_after_is_a_config_error() -> None:
    text = (
        "global: {expire_after: 9999999w}\nroute:\n  receiver: h\n"
        'receivers:\n  - name: h\n    webhook: {url: "http://127.0.0.1:1/x"}\n'
    )
    with pytest.raises(ConfigError, match=r"r.yaml:1:24: global: expire_after: .*too long"):
        parse_routing(text, "r.yaml")


def test_silence_for_a_huge_duration_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    argv = ["add", "model=fraud", "--for", "99999999w", "-c", "x", "--db", ":memory:"]
    assert silence_main(argv, clock=clock) == 2
    assert "error: --for '99999999w': too long:" in capsys.readouterr().err
    ok = ["add", "model=fraud", "--for", "520w", "-c", "x", "--db", ":memory:"]
    assert silence_main(ok, clock=clock) == 0
    assert clock.now() + timedelta(weeks=520) > clock.now()
