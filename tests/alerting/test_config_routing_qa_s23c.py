"""QA pass as an Alertmanager user: routing config errors, matchers, group_by
'...', inhibition with both sides matching, silences CLI. Each test names what it pins."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import InhibitRule, parse_routing
from modelhealth.alerting.inhibition import Inhibitor
from modelhealth.alerting.matchers import Matcher, MatcherError, parse_matcher
from modelhealth.alerting.routing import group_key, group_labels, match_routes
from modelhealth.alerting.silences import SilenceStore, silence_main
from modelhealth.clock import FakeClock
from modelhealth.errors import ConfigError
from modelhealth.types import Alert, AlertState

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOOK = "  - name: a\n    webhook: {url: 'http://127.0.0.1:9/a'}\n"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_routing(text, "r.yaml")
    return str(info.value).splitlines()


def _firing(labels: dict[str, str]) -> Alert:
    return Alert(labels=labels, state=AlertState.FIRING, active_at=T0, fired_at=T0)


# -- group_by: ['...'] -------------------------------------------------------------------


def test_group_by_all_labels_groups_by_the_full_label_set() -> None:
    cfg = parse_routing(f"route:\n  receiver: a\n  group_by: ['...']\nreceivers:\n{HOOK}")
    one = {"alertname": "p99", "model": "fraud", "severity": "critical"}
    other = {"alertname": "psi", "model": "ranker", "severity": "warning"}
    # before: a label literally named "..." was looked for, so every alert shared one group
    assert group_key(cfg.route, one) != group_key(cfg.route, other)
    assert group_labels(cfg.route, one) == one


def test_group_by_all_labels_with_other_labels_is_an_error() -> None:
    errs = _errors(f"route:\n  receiver: a\n  group_by: ['...', model]\nreceivers:\n{HOOK}")
    assert errs == [
        "r.yaml:3:13: route root: group_by: '...' (group by all labels) cannot be combined"
        " with other labels"
    ]


# -- config loader: every issue, none hidden, none misleading ----------------------------


def test_empty_inhibit_matchers_reported_beside_an_unrelated_error() -> None:
    text = (
        f"route:\n  receiver: a\n  bogus: 1\nreceivers:\n{HOOK}"
        "inhibit_rules:\n  - source_matchers: []\n    target_matchers: [a=b]\n"
    )
    errs = _errors(text)
    # before: only the `bogus` line; the empty list surfaced after that was fixed
    assert any("r.yaml:8:22: inhibit_rule 1: source_matchers: must list at least one" in e
               for e in errs), errs  # fmt: skip
    assert any("bogus: unknown key" in e for e in errs)


def test_broken_receiver_is_not_also_called_unknown_on_its_route() -> None:
    text = (
        "route:\n  receiver: a\n  routes:\n    - {matchers: [x=y], receiver: b}\n"
        f"receivers:\n{HOOK}"
        "  - name: b\n    webhook: {url: 'http://127.0.0.1:9/b'}\n    slack: {url: 'http://x/y'}\n"
    )
    errs = _errors(text)
    assert errs == [
        'r.yaml:8:5: receiver "b": expected exactly one of email, pagerduty, webhook, slack'
    ]


def test_unknown_receiver_still_reported() -> None:
    text = f"route:\n  receiver: a\n  routes:\n    - {{receiver: nowhere}}\nreceivers:\n{HOOK}"
    assert _errors(text) == [
        "r.yaml:4:7: route root.0: receiver: unknown receiver 'nowhere' (known: a)"
    ]


def test_secret_key_hint_names_an_option_that_exists() -> None:
    text = (
        "route:\n  receiver: m\nreceivers:\n"
        "  - name: m\n    email: {to: [a@example.com], password: hunter2}\n"
        "  - name: w\n    webhook: {url: 'http://127.0.0.1:9/w', token: abc}\n"
        "  - name: p\n    pagerduty: {routing_key: abc}\n"
    )
    errs = _errors(text)
    # before: "use password_env" / "use token_env", both themselves unknown keys
    assert "MODELHEALTH_SMTP_PASSWORD" in errs[0] and "password_env" not in errs[0]
    assert "use bearer_token_env" in errs[1] and "use token_env" not in errs[1]
    assert "use routing_key_env" in errs[2]
    assert not any("hunter2" in e for e in errs)  # the value is never echoed


# -- matchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("model=fraud", {"model": "fraud"}, True),
        ("model!=fraud", {}, True),  # a missing label is ""
        ("model=~fr", {"model": "fraud"}, False),  # anchored: full match, as Alertmanager
        ("model=~fr.*", {"model": "fraud"}, True),
        ("model=~a|fraud", {"model": "xfraud"}, False),  # ^(?:a|fraud)$, not ^a|fraud$
        ("model!~a|b", {"model": "ab"}, True),
        ("model=~''", {}, True),
        ('team="risk"', {"team": "risk"}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], want: bool) -> None:
    assert parse_matcher(text).matches(labels) is want


def test_comma_joined_matchers_are_refused_unless_quoted() -> None:
    with pytest.raises(MatcherError, match="looks like several matchers"):
        parse_matcher("model=fraud,severity=critical")
    assert parse_matcher('model="fraud,severity=critical"').value == "fraud,severity=critical"
    assert parse_matcher("model=~a,b").value == "a,b"  # a comma not followed by a matcher


def test_silence_cli_refuses_comma_joined_matchers(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    clock = FakeClock(T0)
    argv = ["--db", db, "add", "model=fraud,severity=critical", "-c", "x"]
    # before: exit 0, a silence on model="fraud,severity=critical" that muted nothing and
    # was listed as `model=fraud,severity=critical`, like the two matchers meant
    assert silence_main(argv, clock=clock, out=io.StringIO()) == 2
    assert not Path(db).exists()


# -- route tree --------------------------------------------------------------------------

TREE = """
route:
  receiver: a
  group_by: [model]
  group_wait: 1m
  repeat_interval: 2h
  routes:
    - matchers: [severity=critical]
      receiver: b
      continue: true
      group_interval: 7m
      routes:
        - matchers: [team=risk]
    - matchers: [team=risk]
      receiver: c
receivers:
  - {name: a, webhook: {url: 'http://127.0.0.1:9/a'}}
  - {name: b, webhook: {url: 'http://127.0.0.1:9/b'}}
  - {name: c, webhook: {url: 'http://127.0.0.1:9/c'}}
"""


def test_nested_routes_inherit_and_continue() -> None:
    cfg = parse_routing(TREE)
    crit_risk = {"severity": "critical", "team": "risk", "model": "m"}
    got = match_routes(cfg.route, crit_risk)
    assert [r.receiver for r in got] == ["b", "c"]
    grandchild = got[0]
    assert grandchild.id == "root.0.0"
    assert grandchild.group_by == ("model",) and grandchild.group_wait == timedelta(minutes=1)
    assert grandchild.group_interval == timedelta(minutes=7)  # from its parent, not the root
    assert grandchild.repeat_interval == timedelta(hours=2)
    assert not grandchild.continue_  # `continue` is not inherited
    assert [r.receiver for r in match_routes(cfg.route, {"severity": "info"})] == ["a"]


# -- inhibition --------------------------------------------------------------------------


def test_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    rule = InhibitRule(
        source_matchers=(Matcher("alertname", "=", "ModelDown"),),
        target_matchers=(Matcher("model", "=~", ".+"),),
        equal=("model",),
    )
    v1 = {"alertname": "ModelDown", "model": "fraud", "version": "v1"}
    v2 = {"alertname": "ModelDown", "model": "fraud", "version": "v2"}
    warn = {"alertname": "psi", "model": "fraud", "severity": "warning"}
    inh = Inhibitor([rule])
    inh.update([_firing(v1), _firing(v2)])
    # before: each ModelDown muted the other, so neither paged
    assert not inh.mutes(v1, T0) and not inh.mutes(v2, T0)
    assert inh.mutes(warn, T0)


def test_equal_label_missing_on_both_sides_counts_as_equal() -> None:
    rule = InhibitRule(
        source_matchers=(Matcher("severity", "=", "critical"),),
        target_matchers=(Matcher("severity", "=", "warning"),),
        equal=("cluster",),
    )
    inh = Inhibitor([rule])
    inh.update([_firing({"alertname": "a", "severity": "critical"})])
    assert inh.mutes({"alertname": "b", "severity": "warning"}, T0)
    assert not inh.mutes({"alertname": "b", "severity": "warning", "cluster": "eu"}, T0)


# -- silences ----------------------------------------------------------------------------


def test_silence_expiry_boundary_and_utc_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    clock = FakeClock(T0)
    db = str(tmp_path / "a.db")
    out = io.StringIO()
    assert silence_main(["--db", db, "add", "model=fraud", "--for", "90m", "-c", "x"],
                        clock=clock, out=out) == 0  # fmt: skip
    assert "until 2026-03-01T13:30:00.000+00:00" in out.getvalue()  # UTC, to the stored ms
    store = SilenceStore(db, clock)
    assert store.mutes({"model": "fraud"}, T0 + timedelta(minutes=89, seconds=59))
    assert not store.mutes({"model": "fraud"}, T0 + timedelta(minutes=90))  # ends_at exclusive
    store.close()
