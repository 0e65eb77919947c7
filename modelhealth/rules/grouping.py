"""One incident per (rule, model): many features drifting at once become ONE grouped alert.

The evaluator keeps state per instance (so each feature has its own ``for:`` timer and
resolution), but hands the notifier one :class:`~modelhealth.types.Alert` per group — labels
without ``feature`` — whose annotations list the features ranked by severity::

    annotations["features"]      = "ui_session_minutes=0.91, tenure_months=0.31"
    annotations["feature_count"] = "2"
    annotations["top_feature"]   = "ui_session_minutes"

The grouped alert's state is the max over its instances (Prometheus), ``active_at``/``fired_at``
the earliest, and it resolves only when its last firing instance resolves. Model-level rules
(no ``feature`` label) pass through unchanged. Alerting can group further by labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from modelhealth.types import Alert, AlertState

FEATURE_NAMES = "feature_names"
"""Annotation with every firing feature of a grouped alert, comma-separated and sorted
(feature names cannot hold commas): the alerting layer notifies again when one joins."""
MAX_LISTED = 20
"""Features named in the summary line; the rest are counted (a 500-feature page stays readable)."""


def group_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "feature"))


def _severity(alert: Alert) -> float:
    try:
        return float(alert.annotations.get("score", "nan"))
    except ValueError:
        return float("nan")


def rank(alerts: Iterable[Alert]) -> list[Alert]:
    """Most severe first (detector score, then value), ties broken by feature name."""

    def key(a: Alert) -> tuple[float, float, str]:
        s = _severity(a)
        return (
            -(s if s == s else -1.0),
            -(a.value if a.value == a.value else 0.0),
            a.labels.get("feature", ""),
        )

    return sorted(alerts, key=key)


def group_alerts(
    firing: Sequence[Alert], resolved: Sequence[Alert] = (), now: datetime | None = None
) -> list[Alert]:
    """Collapse per-feature alerts into one per group; ``resolved`` only closes empty groups."""
    groups: dict[tuple[tuple[str, str], ...], list[Alert]] = {}
    passthrough: list[Alert] = []
    for a in firing:
        if "feature" in a.labels:
            groups.setdefault(group_key(a.labels), []).append(a)
        else:
            passthrough.append(a)
    out = [*passthrough, *(_merge(members) for members in groups.values())]
    closed: dict[tuple[tuple[str, str], ...], list[Alert]] = {}
    for a in resolved:
        if "feature" not in a.labels:
            out.append(a)
        elif group_key(a.labels) not in groups:
            closed.setdefault(group_key(a.labels), []).append(a)
    for members in closed.values():
        merged = _merge(members)
        ends = [m.resolved_at for m in members if m.resolved_at is not None]
        out.append(_replace_resolved(merged, max(ends) if ends else now))
    return out


def _merge(members: list[Alert]) -> Alert:
    ranked = rank(members)
    top = ranked[0]
    listed = ", ".join(f"{a.labels['feature']}={a.value:.4g}" for a in ranked[:MAX_LISTED]) + (
        f" (+{len(ranked) - MAX_LISTED} more)" if len(ranked) > MAX_LISTED else ""
    )
    annotations = dict(top.annotations)
    annotations.update(
        {
            "features": listed,
            "feature_count": str(len(ranked)),
            "top_feature": top.labels["feature"],
            FEATURE_NAMES: ",".join(sorted({a.labels["feature"] for a in members})),
            "summary": f"{len(ranked)} feature(s) of {top.labels.get('model', '?')}: {listed}",
        }
    )
    actives = [a.active_at for a in members if a.active_at is not None]
    fired = [a.fired_at for a in members if a.fired_at is not None]
    sent = [a.last_sent_at for a in members if a.last_sent_at is not None]
    return Alert(
        labels=dict(group_key(top.labels)),
        annotations=annotations,
        state=max((a.state for a in members), default=AlertState.INACTIVE),
        value=top.value,
        active_at=min(actives) if actives else None,
        fired_at=min(fired) if fired else None,
        last_sent_at=max(sent) if sent else None,
    )


def _replace_resolved(alert: Alert, when: datetime | None) -> Alert:
    from dataclasses import replace

    return replace(alert, state=AlertState.INACTIVE, resolved_at=when)
