"""Deep links from a notification into the dashboard: the incident's model and time range.

An on-call engineer paged at 03:00 should land on the charts of the model that paged, over
the hours around the incident, not on the fleet view of the last six hours. Notifications
carry ``{dashboard_url}/model?model=M&from=T0&to=T1`` (the Alerts page when a group spans
several models); the dashboard reads those query parameters once per browser session and
opens that model and range (``app.py``). Times are UTC ISO-8601 to the minute.

Streamlit-free, because the alerting pipeline builds the links.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelhealth.names import check_name

BEFORE = timedelta(hours=2)
"""Shown before the first alert became active: the lead-up is what tells a regression from
noise."""
AFTER = timedelta(minutes=30)
"""Shown after the last alert resolved (or the notification was sent)."""
_FORMAT = "%Y-%m-%dT%H:%MZ"


@dataclass(frozen=True)
class DeepLink:
    """What a link asks the dashboard to open."""

    model: str | None
    start: datetime
    end: datetime


def incident_link(base: str, alerts: Iterable[Mapping[str, object]], now: datetime) -> str:
    """The link for ``alerts`` (``Alert.to_dict`` records), or ``base`` unchanged when it is
    empty or the alerts carry no times."""
    if not base:
        return base
    alerts = list(alerts)
    starts = [_when(a.get("active_at") or a.get("fired_at")) for a in alerts]
    # a performance rule judges a window that ended label_delay before it fired: the window
    # it judged when it became active starts as far before that as the latest judged window
    # (annotated at the latest tick, ``resolved_at`` or about ``now``) starts before it
    for a, active in zip(alerts, list(starts), strict=True):
        judged = _when(_judged_from(a))
        if judged is not None:
            tick = _when(a.get("resolved_at")) or now
            starts.append(active - (tick - judged) if active is not None else judged)
    starts = [s for s in starts if s is not None]
    if not starts:
        return base
    ends = [_when(a.get("resolved_at")) or now for a in alerts]
    models = {str(a.get("labels", {}).get("model", "")) for a in alerts}  # type: ignore[union-attr]
    query = {"from": _stamp(min(starts) - BEFORE), "to": _stamp(max(ends) + AFTER)}
    page = "alerts"
    if len(models) == 1 and (model := models.pop()):
        page, query = "model", {"model": model, **query}
    return f"{base.rstrip('/')}/{page}?{urllib.parse.urlencode(query)}"


def parse_link(params: Mapping[str, str]) -> DeepLink | None:
    """The link in a page's query parameters; ``None`` when there is none.

    Raises ``ValueError`` naming the parameter when one is malformed, so the page can say
    why it is not showing what the link asked for."""
    if "from" not in params and "to" not in params:
        return None
    start, end = (_parse(params.get(k, ""), k) for k in ("from", "to"))
    if end <= start:
        raise ValueError(f"link: 'to' ({params['to']}) is not after 'from' ({params['from']})")
    model = params.get("model") or None
    if model is not None:
        check_name(model, "model")
    return DeepLink(model, start, end)


def link_params(model: str | None, link: DeepLink | None) -> dict[str, str]:
    """The query parameters that reopen ``model`` over ``link``'s range (``parse_link``'s
    inverse): what the dashboard keeps in its URL so a reload shows the same view."""
    params = {"model": model} if model else {}
    if link is not None:
        params |= {"from": _stamp(link.start), "to": _stamp(link.end)}
    return params


def _parse(text: str, key: str) -> datetime:
    # an unencoded '+02:00' arrives as ' 02:00' (a '+' in a query string is a space)
    text = re.sub(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$", r"\1+\2", text.strip())
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"link: {key}={text!r} is not a time (expected UTC ISO-8601, e.g. 2026-11-26T03:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _judged_from(alert: Mapping[str, object]) -> object:
    annotations = alert.get("annotations")
    return annotations.get("judged_from") if isinstance(annotations, Mapping) else None


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return _parse(value, "time")
    return None


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_FORMAT)
