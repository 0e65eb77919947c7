"""Which routes (and so which receivers and groups) an alert goes to.

Alertmanager semantics: an alert descends into the first child route that matches; with
``continue: true`` on that child, matching carries on with its later siblings. A node whose
children all fail to match takes the alert itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from modelhealth.alerting.config import ALL_LABELS, RouteSpec, RoutingConfig, parse_routing
from modelhealth.alerting.matchers import matches_all
from modelhealth.errors import ConfigError, ConfigIssue, SourcePos, undecodable_at

__all__ = [
    "RouteSpec",
    "RoutingConfig",
    "find_route",
    "group_key",
    "group_route",
    "load_routing",
    "longest_group_wait",
    "match_routes",
]


def load_routing(path: str | Path) -> RoutingConfig:
    """Read a routing YAML file; ConfigError lists every problem as ``file:line:col: ...``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(SourcePos(str(p)), f"cannot read: {exc}")]) from exc
    except UnicodeDecodeError as exc:  # was a raw traceback from every command that routes
        at = SourcePos(str(p), *undecodable_at(exc))
        why = f"byte {exc.object[exc.start]:#04x} is not UTF-8; save the file as UTF-8"
        raise ConfigError([ConfigIssue(at, why)]) from None
    return parse_routing(text, str(p))


def match_routes(route: RouteSpec, labels: Mapping[str, str]) -> list[RouteSpec]:
    """The routes that take an alert with ``labels``, in tree order (at least the root).

    >>> cfg = RoutingConfig.default(email_to=["a@b.c"])
    >>> [r.receiver for r in match_routes(cfg.route, {"severity": "critical"})]
    ['pager', 'email']
    """
    if not matches_all(route.matchers, labels):
        return []
    found: list[RouteSpec] = []
    for child in route.routes:
        hit = match_routes(child, labels)
        if hit:
            found.extend(hit)
            if not child.continue_:
                break
    # As in Alertmanager, the node itself receives the alert only when no child matched.
    return found or [route]


def longest_group_wait(route: RouteSpec) -> timedelta:
    """The longest ``group_wait`` in the route tree: a one-shot ``rules eval`` flushes after
    it, so a child route that waits longer than the root still delivers in that run."""
    return max([route.group_wait, *(longest_group_wait(c) for c in route.routes)])


def group_labels(route: RouteSpec, labels: Mapping[str, str]) -> dict[str, str]:
    """The group_by subset of an alert's labels (missing labels are left out); all of them
    under ``group_by: ['...']``, as in Alertmanager (it used to look for a label named
    ``...``, so every alert of such a route fell into one group)."""
    if ALL_LABELS in route.group_by:
        return dict(labels)
    return {k: labels[k] for k in route.group_by if k in labels}


def group_key(route: RouteSpec, labels: Mapping[str, str]) -> str:
    """Identity of the aggregation group: the route's matcher path (``RouteSpec.key``, not
    its position), receiver and the group_by values.

    The format is the one earlier versions wrote, so groups (and PagerDuty incidents, whose
    dedup key hashes this) opened before an upgrade keep their key, except on a route that
    then carried a positional ``#n`` beside a same-matcher sibling (see ``with_keys``).
    """
    blob = json.dumps(sorted(group_labels(route, labels).items()), separators=(",", ":"))
    return f"{route.key or route.id}/{route.receiver}/{blob}"


def find_route(root: RouteSpec, route_id: str, receiver: str, key: str) -> RouteSpec | None:
    """The route a persisted group (``route_id``, ``receiver``, group ``key``) belongs to.

    ``route_id`` is a :attr:`RouteSpec.identity`; a group saved by an earlier version stored
    the bare matcher path instead, so that is matched by the group key's prefix and receiver,
    keeping the route's own timers for groups that were open during an upgrade.
    """
    routes = list(_walk(root))
    for r in routes:
        if r.identity == route_id:
            return r
    legacy = [r for r in routes if r.receiver == receiver and r.key == route_id]
    for r in legacy:
        if key.startswith(f"{r.key}/{r.receiver}/") and _labels_fit(r, key):
            return r
    return None


def group_route(routing: RoutingConfig, route_id: str, receiver: str, key: str) -> RouteSpec | None:
    """The route an open group (its route's ``route_id``, ``receiver`` and group ``key``)
    follows under ``routing``, or None when ``receiver`` is no longer declared.

    A restart and a reload of the routing file apply this same rule, so an open group fares
    the same whichever happened: a route still there (same matcher path, receiver and
    ``group_by``) keeps the group, with the route's timers as the file now sets them; a route
    that is gone keeps its group under the root's timers, under the same key, because its
    alerts may still owe that receiver a resolve (they no longer arrive there, so they
    resolve by ``resolve_timeout``).
    """
    route = find_route(routing.route, route_id, receiver, key)
    if route is not None and route.receiver == receiver:
        return route
    if receiver not in routing.receivers:
        return None
    root = routing.route
    return RouteSpec(
        id=route_id,
        receiver=receiver,
        group_by=root.group_by,
        group_wait=root.group_wait,
        group_interval=root.group_interval,
        repeat_interval=root.repeat_interval,
    )


def _walk(route: RouteSpec) -> list[RouteSpec]:
    return [route, *(r for child in route.routes for r in _walk(child))]


def _labels_fit(route: RouteSpec, key: str) -> bool:
    """Whether the group labels in ``key`` are a subset of ``route.group_by``."""
    try:
        labels = json.loads(key[len(f"{route.key}/{route.receiver}/") :])
    except ValueError:
        return False
    every = ALL_LABELS in route.group_by
    return all(isinstance(kv, list) and (every or kv[0] in route.group_by) for kv in labels)
