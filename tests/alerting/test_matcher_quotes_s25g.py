"""Matchers in Alertmanager's dialect: escapes inside double quotes, and a printed form that
parses back to the same matcher (silences in a real SQLite file, routes from YAML)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.matchers import Matcher, MatcherError, parse_matcher
from modelhealth.alerting.routing import group_key, match_routes
from modelhealth.alerting.silences import SilenceStore, silence_main
from modelhealth.clock import FakeClock


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'label="a \"quoted\" value"', 'a "quoted" value'),
        (r'path="C:\\models\\fraud"', r"C:\models\fraud"),
        (r'end="ends in a backslash\\"', "ends in a backslash\\"),
        (r'two="line\none"', "line\none"),
        (r'list="fraud,severity=critical"', "fraud,severity=critical"),
        ("single='as \\\"written\\\"'", 'as \\"written\\"'),
        ('plain=as"is', 'as"is'),
    ],
)
def test_double_quoted_values_take_alertmanagers_escapes(text: str, value: str) -> None:
    """In double quotes ``\\"`` is a quote, ``\\\\`` a backslash and ``\\n`` a line break;
    single-quoted and unquoted values are taken as written."""
    assert parse_matcher(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [(r'feature=~"amount\.\d+"', r"amount\.\d+"), (r"feature=~amount\.\d+", r"amount\.\d+")],
)
def test_other_backslashes_in_a_regex_are_kept(text: str, value: str) -> None:
    """A backslash before anything but ``"``, ``\\`` or ``n`` stays: regexes are unchanged."""
    m = parse_matcher(text)
    assert m.value == value and m.matches({"feature": "amount.12"})
    assert not m.matches({"feature": "amountX12"})


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('model="fraud",severity="critical"', "several matchers"),
        ('model="fra"ud"', r"must be escaped as \""),
        ('model="fraud', "no closing"),
        (r'model="fraud\"', "no closing"),
    ],
)
def test_a_stray_double_quote_is_an_error(text: str, why: str) -> None:
    """An unescaped quote inside, or a missing closing quote, is an error saying so (two
    quoted matchers joined by a comma were one matcher holding the rest as its value)."""
    with pytest.raises(MatcherError, match="(?i)" + why.replace("\\", "\\\\")):
        parse_matcher(text)


VALUES = [
    "fraud",
    "warning|info",
    "",
    'a "quoted" value',
    '"fully quoted"',
    "'single'",
    "back\\slash",
    "trailing\\",
    "\\",
    '"',
    " edge spaces ",
    "fraud,severity=critical",
    "line\nbreak",
    "ünïcødé 模型 🚨",
    "a,b",
]


NOT_REGEXES = ("trailing\\", "\\")


@pytest.mark.parametrize(
    ("op", "value"),
    [(op, v) for op in ("=", "!=", "=~", "!~") for v in VALUES
     if op in ("=", "!=") or v not in NOT_REGEXES],
)  # fmt: skip
def test_a_printed_matcher_parses_back_to_itself(op: str, value: str) -> None:
    """``parse_matcher(str(m)) == m`` for every value, on one printable line."""
    m = Matcher("label", op, value)
    assert parse_matcher(str(m)) == m
    assert "\n" not in str(m)


def test_common_matchers_print_as_written() -> None:
    """A value that needs no quotes prints unquoted, as it did before."""
    for text in ("model=fraud", "severity=~warning|info", "team!=ml", "model=", "v=a,b"):
        assert str(parse_matcher(text)) == text
    assert str(Matcher("label", "=", 'a "q"')) == r'label="a \"q\""'


def test_a_silence_on_an_escaped_quote_mutes_the_alert(tmp_path: Path, clock: FakeClock) -> None:
    """``silence add 'msg="say \\"hi\\""'`` mutes alerts whose msg is ``say "hi"``, and
    ``silence list`` prints the matcher in the form it was given."""
    db = str(tmp_path / "alerts.db")
    argv = ["--db", db, "add", r'msg="say \"hi\""', "--for", "1h", "-c", "c", "--by", "b"]
    assert silence_main(argv, clock=clock, out=io.StringIO()) == 0
    store = SilenceStore(db, clock)
    assert store.mutes({"msg": 'say "hi"'}, clock.now())
    assert not store.mutes({"msg": r"say \"hi\""}, clock.now())
    out = io.StringIO()
    assert silence_main(["--db", db, "list"], clock=clock, out=out) == 0
    assert r'msg="say \"hi\""' in out.getvalue()


def test_listed_matchers_can_be_given_back_to_silence_add(tmp_path: Path, clock: FakeClock) -> None:
    """Each stored matcher, printed, re-creates the same silence."""
    db = str(tmp_path / "alerts.db")
    store = SilenceStore(db, clock)
    given = [Matcher("model", "=", v) for v in VALUES if v] + [Matcher("x", "=~", "a|b\\.c")]
    store.add(given, clock.now(), clock.now() + timedelta(hours=1), "alice", "first")
    (first,) = store.list(clock.now())
    argv = ["--db", db, "add", *map(str, first.matchers), "--for", "1h", "-c", "again"]
    assert silence_main(argv, clock=clock, out=io.StringIO()) == 0
    again = [s for s in store.list(clock.now()) if s.comment == "again"]
    assert again[0].matchers == first.matchers == tuple(given)


def test_route_group_keys_do_not_change_for_values_now_printed_quoted() -> None:
    """A route's group key (and so its PagerDuty dedup key) is built from the matchers as
    they always were, also when their printed form now quotes the value."""
    cfg = parse_routing(
        """
route:
  receiver: r
  group_by: [model]
  routes:
    - matchers: ['model=" fraud "', 'team="a,b=c"']
      receiver: r
receivers:
  - name: r
    webhook: {url: "http://127.0.0.1:9/hook"}
"""
    )
    labels = {"model": " fraud ", "team": "a,b=c"}
    (route,) = match_routes(cfg.route, labels)
    assert group_key(route, labels).startswith("/{}/{model= fraud ,team=a,b=c}/r/")
