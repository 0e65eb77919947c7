"""Label matchers (``model=fraud``, ``severity!=info``, ``team=~ml-.*``) shared by routes,
inhibition rules and silences, so all three speak the same small language as Alertmanager."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
OPERATORS = ("=", "!=", "=~", "!~")
_MORE = re.compile(r",\s*([A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=))")


class MatcherError(ValueError):
    """A matcher string that does not parse; the message says what form was expected."""


@dataclass(frozen=True)
class Matcher:
    """One condition on one label; a missing label matches as the empty string."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise MatcherError(f"operator {self.op!r} is not one of {', '.join(OPERATORS)}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise MatcherError(f"bad regular expression {self.value!r}: {exc}") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        full = re.fullmatch(self.value, got) is not None
        return full if self.op == "=~" else not full

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    def to_json(self) -> list[str]:
        return [self.name, self.op, self.value]


def parse_matcher(text: str) -> Matcher:
    """``'model=fraud'`` -> Matcher; quotes around the value are optional.

    >>> parse_matcher('severity=~"warning|info"').op
    '=~'
    """
    m = _MATCHER.match(text)
    if not m:
        raise MatcherError(
            f"cannot parse matcher {text!r}: expected LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX"
            " or LABEL!~REGEX"
        )
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    elif more := _MORE.search(value):
        # `model=fraud,severity=critical` was one matcher on model with the value
        # "fraud,severity=critical": a silence that muted nothing, listed exactly as the two
        # matchers it was meant to be
        raise MatcherError(
            f"{text.strip()!r} looks like several matchers in one: give each its own"
            f" (`{name}{op}{value[: more.start()]}` and `{more.group(1)}...`), or quote a value"
            " that really holds a comma"
        )
    return Matcher(name, op, value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
