from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_duration, parse_routing
from modelhealth.alerting.matchers import MatcherError, parse_matcher
from modelhealth.alerting.routing import RoutingConfig, load_routing, match_routes
from modelhealth.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"


def test_example_file_loads_and_routes_by_team_and_severity() -> None:
    cfg = load_routing(EXAMPLE)
    crit = {"alertname": "latency_p99", "model": "fraud", "severity": "critical", "team": "risk"}
    assert [r.receiver for r in match_routes(cfg.route, crit)] == ["pager", "risk-email"]
    warn = {"alertname": "feature_drift", "model": "ranker", "severity": "warning"}
    assert [r.receiver for r in match_routes(cfg.route, warn)] == ["ml-email"]
    assert cfg.receivers["pager"].options["routing_key_env"] == "MODELHEALTH_PAGERDUTY_ROUTING_KEY"


def test_children_inherit_parent_options_unless_overridden() -> None:
    cfg = parse_routing(
        """
route:
  receiver: a
  group_by: [model]
  group_wait: 1m
  repeat_interval: 3h
  routes:
    - matchers: ['team="risk"']
      group_wait: 10s
      routes:
        - matchers: [severity=critical]
          receiver: b
receivers:
  - name: a
    webhook: {url: "http://127.0.0.1:1/a"}
  - name: b
    webhook: {url: "http://127.0.0.1:1/b"}
""",
        "r.yaml",
    )
    grand = cfg.route.routes[0].routes[0]
    assert grand.receiver == "b"
    assert grand.group_by == ("model",)
    assert grand.group_wait == timedelta(seconds=10)
    assert grand.repeat_interval == timedelta(hours=3)
    assert cfg.route.routes[0].receiver == "a"


def test_default_routes_everything_to_email_and_criticals_also_to_pager() -> None:
    cfg = RoutingConfig.default(email_to=["oncall@example.com"])
    route = cfg.route
    assert [r.receiver for r in match_routes(route, {"severity": "critical"})] == ["pager", "email"]
    assert [r.receiver for r in match_routes(route, {"severity": "warning"})] == ["email"]
    assert cfg.receivers["email"].options["to"] == ["oncall@example.com"]


BAD = """\
route:
  receiver: nowhere
  group_wait: 5 minutes
  routes:
    - matchers: ["severity=~("]
      receiver: pager
      continu: true
receivers:
  - name: pager
    pagerduty:
      routing_key: abc123
  - name: hook
    webhook: {}
inhibit_rules:
  - source_matchers: [severity=critical]
"""


def test_bad_file_reports_every_issue_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_routing(BAD, "bad_routing.yaml")
    text = str(err.value)
    expect = [
        "bad_routing.yaml:3:15: route root: group_wait: expected a duration",
        "bad_routing.yaml:5:18: route root.0: matchers: bad regular expression",
        "bad_routing.yaml:7:7: route root.0: continu: unknown key",
        'bad_routing.yaml:11:7: receiver "pager": routing_key: unknown key',
        "use routing_key_env",
        'bad_routing.yaml:13:14: receiver "hook": webhook: expected exactly one of url or url_env',
        "bad_routing.yaml:15:5: inhibit_rule 1: target_matchers: missing",
        "bad_routing.yaml:2:3: route root: receiver: unknown receiver 'nowhere'",
    ]
    for fragment in expect:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert len(err.value.issues) == 7


def test_unreadable_file_and_invalid_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_routing(tmp_path / "missing.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("route:\n  receiver: [a\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+:\d+: invalid YAML"):
        load_routing(bad)


def test_durations_and_matchers() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match=r"expected a number with a unit"):
        parse_duration("90")
    # one grammar with the rules' durations: silence --for 1w and repeat_interval 1.5h work
    assert parse_duration("1w") == timedelta(weeks=1)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    m = parse_matcher('severity=~"warning|info"')
    assert m.matches({"severity": "info"}) and not m.matches({"severity": "critical"})
    assert parse_matcher("team!=risk").matches({})  # a missing label is ""
    with pytest.raises(MatcherError, match="expected LABEL=VALUE"):
        parse_matcher("just-a-word")
