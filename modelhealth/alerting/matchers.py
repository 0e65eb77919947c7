"""Label matchers (``model=fraud``, ``severity!=info``, ``team=~ml-.*``) shared by routes,
inhibition rules and silences, so all three speak the same small language as Alertmanager.

A double-quoted value takes Alertmanager's escapes (``\\"``, ``\\\\``, ``\\n``; any other
backslash stays, so a regex's ``\\.`` is unchanged), and a matcher prints in a form that
parses back to itself: ``silence list`` output can be pasted into ``silence add``.
"""

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
        """``name op value``, the value double-quoted and escaped when it holds a quote or
        backslash, an edge space, a line break or a comma before another matcher, so
        ``parse_matcher(str(m)) == m`` (and Alertmanager reads it alike), while the usual
        ``model=fraud`` prints as written."""
        plain = self.key_text
        if not any(c in self.value for c in '"\\') and _reads_back(plain, self):
            return plain
        return f'{self.name}{self.op}"{quote_value(self.value)}"'

    @property
    def key_text(self) -> str:
        """``name op value`` unquoted: the text route keys are built from. It must never
        change (a route's group key, and so its PagerDuty dedup key, would, re-paging every
        open incident), so it stays the old form, also for values :meth:`__str__` quotes."""
        return f"{self.name}{self.op}{self.value}"

    def to_json(self) -> list[str]:
        return [self.name, self.op, self.value]


def parse_matcher(text: str) -> Matcher:
    """``'model=fraud'`` -> Matcher; quotes around the value are optional.

    In double quotes ``\\"`` is a quote and ``\\\\`` a backslash, as in Alertmanager:
    ``label="a \\"quoted\\" value"`` is the value ``a "quoted" value`` (it used to keep the
    backslashes, so it matched nothing). Single quotes take the value as written.

    >>> parse_matcher('severity=~"warning|info"').op
    '=~'
    >>> parse_matcher(r'msg="say \\"hi\\""').value
    'say "hi"'
    """
    return _parse(text)


def _parse(text: str) -> Matcher:
    m = _MATCHER.match(text)
    if not m:
        raise MatcherError(
            f"cannot parse matcher {text!r}: expected LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX"
            " or LABEL!~REGEX"
        )
    name, op, value = m.groups()
    if value[:1] == '"':
        value = _unquote(text.strip(), name, op, value)
    elif len(value) >= 2 and value[0] == value[-1] == "'":
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


def quote_value(value: str) -> str:
    """``value`` escaped for double quotes: the inverse of the parser's unescaping."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unquote(text: str, name: str, op: str, quoted: str) -> str:
    """The value inside ``quoted`` (which starts with ``"``), its escapes resolved.

    As Alertmanager: ``\\"`` ``\\\\`` ``\\n`` are a quote, a backslash and a line break,
    any other backslash is kept (``\\d`` in a regex); a quote that is not escaped must be
    the last character. ``model="fraud",severity="critical"`` was read as one matcher on
    ``model`` whose value held the rest: it is now the several-matchers error.
    """
    out: list[str] = []
    i, end = 1, len(quoted)
    while i < end:
        c = quoted[i]
        if c == "\\" and i + 1 < end and quoted[i + 1] in '"\\n':
            out.append("\n" if quoted[i + 1] == "n" else quoted[i + 1])
            i += 2
            continue
        if c == '"':
            if i == end - 1:
                return "".join(out)
            rest = quoted[i + 1 :]
            if more := _MORE.match(rest):
                raise MatcherError(
                    f"{text!r} looks like several matchers in one: give each its own"
                    f" (`{name}{op}{quoted[: i + 1]}` and `{more.group(1)}...`)"
                )
            raise MatcherError(
                f"cannot parse matcher {text!r}: a double quote inside a quoted value must be"
                ' escaped as \\"'
            )
        out.append(c)
        i += 1
    raise MatcherError(f'cannot parse matcher {text!r}: the quoted value has no closing "')


def _reads_back(text: str, matcher: Matcher) -> bool:
    """Whether ``text`` is one printable line that parses to ``matcher``."""
    try:
        return text.isprintable() and _parse(text) == matcher
    except MatcherError:
        return False
