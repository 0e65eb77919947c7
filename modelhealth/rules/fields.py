"""Parsers for the optional rule fields ``baseline``, ``schedule``, ``trigger``,
``min_count`` and ``when_not_judged``.

Each takes the YAML node (with its position) and returns the parsed value or raises
:class:`FieldError`, which the config loader turns into a ``file:line:col`` issue.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import timedelta

from modelhealth.errors import SourcePos
from modelhealth.names import is_valid_version
from modelhealth.rules.detectors._common import yaml_number
from modelhealth.rules.durations import parse_duration
from modelhealth.rules.metrics import (
    MIN_LABELS,
    SCORE_DRIFT_PREFIX,
    is_drift_metric,
    is_performance_metric,
    takes_min_count,
)
from modelhealth.rules.series import BaselineSpec
from modelhealth.rules.yamlnodes import Node

TRIGGERS = ("new_data",)
WHEN_NOT_JUDGED = ("keep", "resolve")
"""What an alert does at a tick whose window its rule cannot judge (``when_not_judged:``)."""
_BASELINE_KEYS = {"reference", "shift", "from", "to", "version"}
_REFERENCE_BASELINE_METRICS = ("feature.null_rate", "feature.special_rate")


class FieldError(ValueError):
    """One invalid field: where, which, and what was expected."""

    def __init__(self, pos: SourcePos, field: str, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.field = field
        self.message = message


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close match, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_baseline(n: Node, metric: str | None) -> BaselineSpec:
    """``baseline:`` -> BaselineSpec: reference, {shift}, {from, to} or {version}."""
    if n.value == "reference":
        n = Node({"reference": Node(True, n.pos)}, n.pos)
    if not isinstance(n.value, dict) or not n.value:
        raise FieldError(
            n.pos,
            "baseline",
            "must be a mapping: {reference: true}, {shift: 7d}, "
            "{from: 2026-01-01, to: 2026-01-08} or {version: v2}",
        )
    for key, val in n.value.items():
        if key not in _BASELINE_KEYS:
            hint = suggest(key, _BASELINE_KEYS)
            raise FieldError(val.pos, f"baseline.{key}", "unknown key" + hint)
    v = n.value
    given = [k for k in ("reference", "shift", "from", "version") if k in v]
    if "to" in v and "from" not in v:
        given.append("to")
    if len(given) > 1:
        names = " and ".join(f"'{k}'" + ("/'to'" if k == "from" else "") for k in given)
        raise FieldError(
            n.pos,
            "baseline",
            f"{names} cannot be combined: a baseline is one of {{reference: true}}, "
            "{shift: 7d}, {from: 2026-01-01, to: 2026-01-08} or {version: v2}",
        )
    if "shift" in v:
        try:
            off = parse_duration(v["shift"].value)
        except ValueError as exc:
            raise FieldError(v["shift"].pos, "baseline.shift", str(exc)) from None
        if off <= timedelta(0):
            raise FieldError(v["shift"].pos, "baseline.shift", "must be positive (how far back)")
        spec = BaselineSpec("shifted", offset=off)
    elif "from" in v or "to" in v:
        bounds = [_parse_time(v.get(k)) for k in ("from", "to")]
        if None in bounds or bounds[0] >= bounds[1]:  # type: ignore[operator]
            raise FieldError(
                n.pos,
                "baseline",
                "needs 'from' and 'to' as ISO dates, from < to "
                "(e.g. from: 2026-01-01, to: 2026-01-08)",
            )
        spec = BaselineSpec("window", start_ms=bounds[0], end_ms=bounds[1])
    elif "version" in v:
        problem = version_problem(v["version"].value, v["version"].text)
        if problem:
            raise FieldError(v["version"].pos, "baseline.version", problem)
        spec = BaselineSpec("version", version=str(v["version"].value))
    else:
        spec = BaselineSpec("reference")
    if (
        metric
        and spec.kind == "reference"
        and not (
            is_drift_metric(metric)
            or metric.startswith(SCORE_DRIFT_PREFIX)
            or metric in _REFERENCE_BASELINE_METRICS
        )
    ):
        raise FieldError(
            n.pos,
            "baseline",
            f"the reference profile has no {metric!r}; use shift, from/to or version",
        )
    if metric and metric.startswith(SCORE_DRIFT_PREFIX) and spec.kind != "reference":
        raise FieldError(n.pos, "baseline", "score drift compares with the reference profile only")
    return spec


def parse_schedule(n: Node) -> str:
    """``schedule:`` must be a cron expression (checked with croniter)."""
    from croniter import croniter

    if not isinstance(n.value, str) or not croniter.is_valid(n.value):
        raise FieldError(
            n.pos,
            "schedule",
            f"not a cron expression: {n.value!r} (e.g. '*/5 * * * *' for every five minutes)",
        )
    return n.value


def parse_trigger(n: Node) -> str:
    """``trigger:`` names an event that evaluates the rule early."""
    if n.value not in TRIGGERS:
        raise FieldError(
            n.pos,
            "trigger",
            f"must be one of {', '.join(TRIGGERS)}, got "
            f"{n.value!r}" + suggest(str(n.value), TRIGGERS),
        )
    return str(n.value)


def parse_when_not_judged(n: Node) -> str:
    """``when_not_judged:`` -> what an alert does while its instance has data the rule cannot
    judge (a drift window under ``min_count``, a baseline not available yet, too few labels):
    ``keep`` (the default) keeps its state, as Grafana's "keep last state"; ``resolve``
    resolves a firing alert and clears a pending one, as rules did before."""
    if n.value not in WHEN_NOT_JUDGED:
        raise FieldError(
            n.pos,
            "when_not_judged",
            f"must be one of {', '.join(WHEN_NOT_JUDGED)} (keep: an alert keeps its state "
            "while its window cannot be judged; resolve: it resolves), got "
            f"{n.value!r}" + suggest(str(n.value), WHEN_NOT_JUDGED),
        )
    return str(n.value)


def parse_min_count(n: Node, metric: str | None) -> int:
    """``min_count:`` -> the valid values a drift rule's window (and its baseline) must hold
    to be judged: a whole number >= 0, 0 judging any window. Only drift metrics take it:
    their distances read sampling noise as drift on small windows (``metrics.DRIFT_MIN_COUNT``);
    quality metrics have their own fixed floor of labels."""
    value = yaml_number(n.value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1.0e+3, as YAML 1.1 reads a whole number in exponent notation
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(
            n.pos,
            "min_count",
            "must be a whole number of values >= 0 (e.g. min_count: 500; 0 judges any "
            f"window), got {n.value!r}",
        )
    if metric and not takes_min_count(metric):
        why = (
            f"; a {metric} window is judged once it holds {MIN_LABELS} labels"
            if is_performance_metric(metric)
            else ""
        )
        raise FieldError(
            n.pos,
            "min_count",
            f"only drift metrics (feature.drift.*, score.drift.*) take 'min_count', not "
            f"{metric}{why}; remove it",
        )
    return value


def _parse_time(node: Node | None) -> int | None:
    """An ISO date/time (UTC when no zone) as epoch ms, or None."""
    from datetime import UTC, date, datetime

    if node is None:
        return None
    v = node.value
    if isinstance(v, date) and not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day, tzinfo=UTC)
    elif isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return None
    if not isinstance(v, datetime):
        return None
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return int(v.timestamp() * 1000)


def version_problem(value: object, text: str | None = None) -> str:
    """Why ``value`` is not a model version a rule can name, or "".

    Versions may start with a digit (``1.0.3``, ``2024-06-01``), as the SDK accepts them;
    YAML reads an unquoted ``1.10`` as the number 1.1, so a number is refused with the fix,
    quoting ``text``, the scalar as written in the file (``"1.10"``, not ``"1.1"``).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        written = text if text is not None else str(value)
        read = f" as the number {value!r}" if written != str(value) else " as a number"
        return f'YAML read {written}{read}: quote it, e.g. version: "{written}"'
    if not is_valid_version(value):
        return (
            "must be a version: 1-128 letters, digits, '_', '.' or '-', starting with a letter,"
            f" digit or '_', got {value!r}"
        )
    return ""
