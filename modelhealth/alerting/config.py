"""Routing YAML -> frozen specs, with every problem reported as ``file:line:col: ...``.

The file is composed into a YAML node tree (which keeps marks) and validated node by node,
collecting all issues before raising one :class:`~modelhealth.errors.ConfigError` — unlike
Alertmanager, which stops at the first, position-less error. A second pass checks that every
route names a declared receiver.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.utils import getaddresses, parseaddr
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

from modelhealth.alerting.matchers import Matcher, MatcherError, parse_matcher
from modelhealth.errors import ConfigError, ConfigIssue, SourcePos
from modelhealth.rules.durations import parse_duration  # one grammar for every duration
from modelhealth.rules.yamlnodes import compose

ALL_LABELS = "..."
"""``group_by: ['...']``: as in Alertmanager, every alert's full label set is its group."""
SECRET_KEYS = ("routing_key", "password", "token", "api_key", "secret", "bearer_token")


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    """One node of the route tree, with options already inherited from its parents."""

    id: str
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ("model", "alertname")
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)
    continue_: bool = False
    routes: tuple[RouteSpec, ...] = ()
    source: SourcePos = SourcePos("<default>")
    key: str = ""
    """The route's matcher path in group keys (see :func:`with_keys`); ``id`` names its place
    in the tree for messages."""

    @property
    def identity(self) -> str:
        """Unique name of the route, kept with its persisted groups to find it again after a
        restart: its matcher path, receiver and ``group_by``, none of which depend on where
        the route sits among its siblings."""
        if not self.key:
            return self.id
        return f"{self.key}/{self.receiver}/by:{','.join(sorted(self.group_by))}"


def with_keys(route: RouteSpec) -> RouteSpec:
    """``route`` with a ``key`` on every node: the path of matchers from the root, as
    Alertmanager keys its routes (``/{}/{severity=critical}``), plus ``#n`` on the n-th
    later route whose matcher path, receiver and ``group_by`` all repeat an earlier route's.

    Group keys (``key/receiver/group labels``), and the PagerDuty dedup keys hashed from them,
    must not change when an unrelated route is added above a route: keyed by position among
    siblings, inserting a catch-all route on top renamed ``/{}/{}`` to ``/{}/{}#1`` and
    re-paged every open incident under a new dedup key. Routes with the same matchers but
    another receiver or ``group_by`` are told apart by the receiver in the group key and by
    :attr:`RouteSpec.identity`, so only an exact duplicate needs the ``#n``, and only another
    exact duplicate added above it can shift it.
    """
    return _keyed(route, "", Counter())


def _keyed(route: RouteSpec, parent: str, seen: Counter[tuple[str, ...]]) -> RouteSpec:
    """Key ``route`` and its subtree (tree order); ``seen`` counts each definition so far."""
    path = parent + "/{" + ",".join(sorted(m.key_text for m in route.matchers)) + "}"
    definition = (path, route.receiver, *sorted(route.group_by))
    repeats = seen[definition]
    seen[definition] += 1
    own = f"{path}#{repeats}" if repeats else path
    children = tuple(_keyed(child, own, seen) for child in route.routes)
    return replace(route, key=own, routes=children)


@dataclass(frozen=True, kw_only=True)
class ReceiverSpec:
    """A named destination: ``kind`` is a key of ``notifiers.NOTIFIERS``; options are typed."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    source: SourcePos = SourcePos("<default>")

    @property
    def send_resolved(self) -> bool:
        return bool(self.options.get("send_resolved", RESOLVED_DEFAULTS[self.kind]))


@dataclass(frozen=True, kw_only=True)
class InhibitRule:
    """While an alert matching ``source`` fires, alerts matching ``target`` with the same
    values of the ``equal`` labels are muted (a model's page hides its warnings)."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ("model",)
    source: SourcePos = SourcePos("<default>")


@dataclass(frozen=True, kw_only=True)
class DeliverySpec:
    """Outbox retry policy: exponential backoff with full jitter, giving up after expiry."""

    min_backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(minutes=10)
    expire_after: timedelta = timedelta(hours=24)


# Alertmanager's defaults: pages and webhooks resolve, chat and mail only announce.
RESOLVED_DEFAULTS = {"email": False, "pagerduty": True, "webhook": True, "slack": False}

_STR, _LIST, _BOOL, _DUR, _NUM = "string", "list of strings", "boolean", "duration", "number"
KIND_OPTIONS: dict[str, dict[str, str]] = {
    "email": {"to": _LIST, "cc": _LIST, "from": _STR, "subject_prefix": _STR,
              "send_resolved": _BOOL},
    "pagerduty": {"url": _STR, "routing_key_env": _STR, "send_resolved": _BOOL,
                  "timeout": _NUM, "source": _STR},
    "webhook": {"url": _STR, "url_env": _STR, "bearer_token_env": _STR,
                "send_resolved": _BOOL, "timeout": _NUM},
    "slack": {"url": _STR, "url_env": _STR, "channel": _STR, "send_resolved": _BOOL,
              "timeout": _NUM},
}  # fmt: skip
REQUIRED_OPTIONS = {"email": ("to",), "pagerduty": (), "webhook": (), "slack": ()}
ONE_OF_OPTIONS = {"webhook": ("url", "url_env"), "slack": ("url", "url_env")}


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    """The whole routing file: route tree, receivers, inhibition rules, delivery policy."""

    route: RouteSpec
    receivers: Mapping[str, ReceiverSpec]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    delivery: DeliverySpec = DeliverySpec()
    dashboard_url: str = ""
    # An alert the rules engine stops reporting (neither firing nor resolved) for this long is
    # treated as resolved, as in Alertmanager; a rule evaluated less often than this must keep
    # re-reporting its firing alerts (the evaluator hands over every firing alert each tick).
    resolve_timeout: timedelta = timedelta(minutes=5)
    source: SourcePos = SourcePos("<default>")

    @classmethod
    def default(
        cls, email_to: list[str], *, pager: bool = True, dashboard_url: str = ""
    ) -> RoutingConfig:
        """Everything to email; criticals also to the pager (routing key from the env).

        >>> RoutingConfig.default(email_to=["ml-oncall@example.com"]).route.receiver
        'email'
        """
        receivers = {"email": ReceiverSpec(name="email", kind="email", options={"to": email_to})}
        children: tuple[RouteSpec, ...] = ()
        if pager:
            receivers["pager"] = ReceiverSpec(name="pager", kind="pagerduty", options={})
            children = (
                RouteSpec(
                    id="root.0",
                    receiver="pager",
                    matchers=(Matcher("severity", "=", "critical"),),
                    continue_=True,
                ),
                # Alertmanager semantics: once a child matched, the parent no longer receives,
                # so the catch-all email is a sibling after the `continue` pager route.
                RouteSpec(id="root.1", receiver="email"),
            )
        crit = (Matcher("severity", "=", "critical"),)
        lower = (Matcher("severity", "=~", "warning|info"),)
        return cls(
            route=with_keys(RouteSpec(id="root", receiver="email", routes=children)),
            receivers=receivers,
            inhibit_rules=(InhibitRule(source_matchers=crit, target_matchers=lower),),
            dashboard_url=dashboard_url,
        )


class _Reader:
    """Walks composed YAML nodes, converting values and collecting issues with positions."""

    def __init__(self, filename: str) -> None:
        self.file = filename
        self.issues: list[ConfigIssue] = []

    def pos(self, node: yaml.Node) -> SourcePos:
        return SourcePos(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, context: str, fld: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.pos(node), message, fld, context))

    def mapping(
        self, node: yaml.Node, context: str, allowed: tuple[str, ...]
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, context, "", "expected a mapping")
            return {}
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            key = str(k.value)
            if key in out:
                self.error(k, context, key, "duplicate key")
            elif key not in allowed:
                hint = _secret_hint(key, allowed) if any(s in key for s in SECRET_KEYS) else ""
                self.error(k, context, key, f"unknown key (allowed: {', '.join(allowed)}){hint}")
            else:
                out[key] = v
        return out

    def scalar(self, node: yaml.Node, context: str, fld: str, kind: str) -> Any:
        if kind == _LIST:
            if isinstance(node, yaml.SequenceNode) and all(
                isinstance(n, yaml.ScalarNode) for n in node.value
            ):
                return tuple(str(n.value) for n in node.value)
            self.error(node, context, fld, "expected a list of strings")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, context, fld, f"expected a {kind}")
            return None
        text = str(node.value)
        converters: dict[str, Callable[[str], Any]] = {
            _STR: str,
            _DUR: parse_duration,
            _NUM: _seconds,
            _BOOL: _bool,
        }
        try:
            return converters[kind](text)
        except ValueError as exc:
            self.error(node, context, fld, f"expected a {kind}: {exc}")
            return None

    def matchers(self, node: yaml.Node, context: str, fld: str) -> tuple[Matcher, ...]:
        items = self.scalar(node, context, fld, _LIST)
        out = []
        for item, sub in zip(items or (), node.value if items else (), strict=False):
            try:
                out.append(parse_matcher(item))
            except MatcherError as exc:
                self.error(sub, context, fld, str(exc))
        return tuple(out)


def _secret_hint(key: str, allowed: tuple[str, ...]) -> str:
    """What to write instead of a secret-looking ``key``: an allowed ``*_env`` option naming
    the variable (``routing_key`` -> ``routing_key_env``, ``token`` -> ``bearer_token_env``),
    or where the secret comes from when the receiver has no such option (an e-mail
    receiver's ``password`` used to be told "use password_env", itself an unknown key)."""
    envs = [a for a in allowed if a.endswith("_env") and key in a]
    if envs:
        return f"; secrets come from the environment: use {' or '.join(envs)}: NAME_OF_VARIABLE"
    if "to" in allowed and "from" in allowed:  # an e-mail receiver
        return (
            "; secrets come from the environment: SMTP credentials are read from"
            " MODELHEALTH_SMTP_USER and MODELHEALTH_SMTP_PASSWORD"
        )
    return "; secrets come from the environment, never from this file"


def _seconds(text: str) -> float:
    """A timeout in seconds: a finite number > 0. ``float`` alone took ``nan``, ``inf``,
    ``-5`` and ``0``, which loaded fine and then failed (or hung) every delivery."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} is not a number of seconds > 0 (e.g. 10)")
    return value


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def parse_routing(text: str, filename: str = "<routing>") -> RoutingConfig:
    """Parse and validate a routing document; raise ConfigError listing every issue."""
    r = _Reader(filename)
    # bounded: no nesting past MAX_DEPTH, no alias bombs, every issue at a line
    root, issues = compose(text, filename, "invalid YAML")
    if issues:
        raise ConfigError(issues)
    if root is None:
        raise ConfigError(
            [ConfigIssue(SourcePos(filename, 1, 1), "empty file: expected route: and receivers:")]
        )
    top = r.mapping(root, "", ("global", "route", "receivers", "inhibit_rules"))
    delivery, dashboard, resolve_timeout = DeliverySpec(), "", RoutingConfig.resolve_timeout
    if "global" in top:
        own = ("dashboard_url", "resolve_timeout")
        g = r.mapping(top["global"], "global", (*own, *DeliverySpec.__dataclass_fields__))
        dashboard = (
            r.scalar(g["dashboard_url"], "global", "dashboard_url", _STR)
            if ("dashboard_url" in g)
            else ""
        )
        if "resolve_timeout" in g:
            val = r.scalar(g["resolve_timeout"], "global", "resolve_timeout", _DUR)
            if val is not None and val <= timedelta(0):
                r.error(g["resolve_timeout"], "global", "resolve_timeout", "must be > 0")
            elif val is not None:
                resolve_timeout = val
        kw = {k: r.scalar(v, "global", k, _DUR) for k, v in g.items() if k not in own}
        delivery = DeliverySpec(**{k: v for k, v in kw.items() if v is not None})
    declared: set[str] = set()
    receivers = _receivers(r, top.get("receivers"), root, declared)
    if "route" not in top:
        r.error(root, "", "route", "missing: the root route is required")
        raise ConfigError(r.issues)
    route = _route(r, top["route"], "root", None)
    rules = tuple(_inhibit(r, n, i) for i, n in enumerate(_seq(r, top.get("inhibit_rules"))))
    if route is not None:
        _check_receivers(r, route, receivers, declared)
    if r.issues:
        raise ConfigError(sorted(r.issues, key=lambda i: (i.pos.line, i.pos.column)))
    assert route is not None
    return RoutingConfig(
        route=with_keys(route),
        receivers=receivers,
        inhibit_rules=rules,
        delivery=delivery,
        dashboard_url=dashboard or "",
        resolve_timeout=resolve_timeout,
        source=SourcePos(filename, 1, 1),
    )


def _seq(r: _Reader, node: yaml.Node | None) -> list[yaml.Node]:
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        r.error(node, "", "", "expected a list")
        return []
    return list(node.value)


def _receivers(
    r: _Reader, node: yaml.Node | None, root: yaml.Node, declared: set[str]
) -> dict[str, ReceiverSpec]:
    """The valid receivers; ``declared`` collects every name given, valid or not, so a
    route naming a receiver whose own entry has an error is not also told that receiver is
    unknown."""
    if node is None:
        r.error(root, "", "receivers", "missing: declare at least one receiver")
        return {}
    out: dict[str, ReceiverSpec] = {}
    for i, item in enumerate(_seq(r, node)):
        ctx = f"receiver {i + 1}"
        m = r.mapping(item, ctx, ("name", *KIND_OPTIONS))
        name = r.scalar(m["name"], ctx, "name", _STR) if "name" in m else None
        if name is None:
            r.error(item, ctx, "name", "missing")
            continue
        ctx = f'receiver "{name}"'
        declared.add(name)
        if name in out:
            r.error(m["name"], ctx, "name", "duplicate receiver name")
        kinds = [k for k in KIND_OPTIONS if k in m]
        if len(kinds) != 1:
            r.error(item, ctx, "", f"expected exactly one of {', '.join(KIND_OPTIONS)}")
            continue
        kind = kinds[0]
        opts_node = m[kind]
        if isinstance(opts_node, yaml.ScalarNode) and opts_node.value in ("", "~", "null"):
            opts_map: dict[str, yaml.Node] = {}
        else:
            opts_map = r.mapping(opts_node, ctx, tuple(KIND_OPTIONS[kind]))
        opts = {
            k: r.scalar(v, ctx, f"{kind}.{k}", KIND_OPTIONS[kind][k]) for k, v in opts_map.items()
        }
        for key, value in opts.items():
            if value is not None and key in _CHECKS:
                _check_values(r, opts_map[key], ctx, f"{kind}.{key}", _CHECKS[key])
        for req in REQUIRED_OPTIONS[kind]:
            if req not in opts:
                r.error(opts_node, ctx, f"{kind}.{req}", "missing: required")
        one_of = ONE_OF_OPTIONS.get(kind, ())
        if one_of and sum(k in opts for k in one_of) != 1:
            r.error(opts_node, ctx, kind, f"expected exactly one of {' or '.join(one_of)}")
        out[name] = ReceiverSpec(name=name, kind=kind, options=opts, source=r.pos(item))
    return out


def url_problem(url: str) -> str:
    """Why ``url`` cannot be a receiver's endpoint, or "".

    Checked at load: ``htp://...`` or ``127.0.0.1:9000/alerts`` used to load fine and then
    fail every delivery as a retryable "connection failed: unknown url type" until the
    notification expired a day later. (A ``url_env`` value is only read by the notifier;
    ``post_json`` fails such a URL for good.)
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc}); expected http(s)://host[:port]/path"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL; expected http(s)://host[:port]/path"
    return _secret_in_url(parts)


SECRET_URL_HOSTS = ("hooks.slack.com",)
"""Hosts whose webhook URL is itself the credential (Slack's incoming webhooks: whoever
has the URL can post to the channel)."""


def _secret_in_url(parts: SplitResult) -> str:
    """Why a URL written in the YAML holds a secret, or "": a password in it
    (``https://user:pass@host``) or a URL that is itself a credential. Secrets come from
    the environment, never from YAML in git: ``url_env: VAR`` reads it from there. The
    message never echoes the secret."""
    host = (parts.hostname or "").lower()
    if parts.password is not None:
        what = f"a URL with a password in it (https://user:***@{host}/...)"
    elif host in SECRET_URL_HOSTS or host.endswith(tuple("." + h for h in SECRET_URL_HOSTS)):
        what = f"a {host} webhook URL, which is itself a credential"
    else:
        return ""
    return (
        f"{what} must not be written in the config; put it in an environment variable and "
        "name it with url_env: VAR (webhook and slack receivers)"
    )


def address_problem(text: str) -> str:
    """Why ``text`` is not one plausible e-mail address (``a@b.example`` or
    ``Name <a@b.example>``), or "": ``"not an email"`` was mailed to ``not``, and
    ``bad@@example..com`` only failed at the SMTP server."""
    expected = "expected one address like oncall@example.com"
    name, addr = parseaddr(text)
    if len(getaddresses([text])) != 1 or not addr or (not name and addr != text.strip()):
        return f"{text!r} is not one e-mail address; {expected}"
    local, at, domain = addr.partition("@")
    labels = domain.split(".")
    if (
        not local
        or not at
        or "@" in domain
        or any(c.isspace() for c in addr)
        or not all(labels)
        or (len(labels) < 2 and domain.lower() != "localhost")
    ):
        return f"{text!r} is not a valid e-mail address; {expected}"
    return ""


_CHECKS: dict[str, Callable[[str], str]] = {
    "url": url_problem,
    "to": address_problem,
    "cc": address_problem,
    "from": address_problem,
}


def _check_values(
    r: _Reader, node: yaml.Node, ctx: str, fld: str, problem: Callable[[str], str]
) -> None:
    """Report each bad value of an option at its own position (each item of a list)."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for item in items:
        if why := problem(str(item.value)):
            r.error(item, ctx, fld, why)


_ROUTE_KEYS = (
    "receiver", "matchers", "group_by", "group_wait", "group_interval", "repeat_interval",
    "continue", "routes",
)  # fmt: skip


def _route(r: _Reader, node: yaml.Node, rid: str, parent: RouteSpec | None) -> RouteSpec | None:
    ctx = f"route {rid}"
    m = r.mapping(node, ctx, _ROUTE_KEYS)
    base = parent or RouteSpec(id=rid, receiver="")
    kw: dict[str, Any] = {
        "receiver": base.receiver,
        "group_by": base.group_by,
        "group_wait": base.group_wait,
        "group_interval": base.group_interval,
        "repeat_interval": base.repeat_interval,
    }
    kinds = {"receiver": _STR, "group_by": _LIST, "continue": _BOOL}
    for key in ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval"):
        if key in m:
            val = r.scalar(m[key], ctx, key, kinds.get(key, _DUR))
            if key == "group_by" and val is not None and ALL_LABELS in val and len(val) > 1:
                r.error(
                    m[key], ctx, key,
                    f"'{ALL_LABELS}' (group by all labels) cannot be combined with other labels",
                )  # fmt: skip
            elif val is not None:
                kw[key] = val
    matchers = r.matchers(m["matchers"], ctx, "matchers") if "matchers" in m else ()
    if parent is None and matchers:
        r.error(m["matchers"], ctx, "matchers", "the root route must match every alert")
    if parent is None and "continue" in m:
        r.error(m["continue"], ctx, "continue", "not allowed on the root route")
    cont = bool(r.scalar(m["continue"], ctx, "continue", _BOOL)) if "continue" in m else False
    if not kw["receiver"]:
        r.error(node, ctx, "receiver", "missing: the root route needs a receiver")
    if kw["group_interval"] <= timedelta(0):
        r.error(m.get("group_interval", node), ctx, "group_interval", "must be > 0")
    if kw["repeat_interval"] <= timedelta(0):
        r.error(m.get("repeat_interval", node), ctx, "repeat_interval", "must be > 0")
    spec = RouteSpec(id=rid, matchers=matchers, continue_=cont, source=r.pos(node), **kw)
    children = []
    for i, child in enumerate(_seq(r, m.get("routes"))):
        c = _route(r, child, f"{rid}.{i}", spec)
        if c is not None:
            children.append(c)
    return RouteSpec(
        id=rid, matchers=matchers, continue_=cont, source=r.pos(node), routes=tuple(children), **kw
    )


def _inhibit(r: _Reader, node: yaml.Node, i: int) -> InhibitRule:
    ctx = f"inhibit_rule {i + 1}"
    m = r.mapping(node, ctx, ("source_matchers", "target_matchers", "equal"))
    parsed: dict[str, tuple[Matcher, ...]] = {}
    for key in ("source_matchers", "target_matchers"):
        if key not in m:
            r.error(node, ctx, key, "missing: required")
            parsed[key] = ()
            continue
        before = len(r.issues)
        parsed[key] = r.matchers(m[key], ctx, key)
        # an empty list is an error of its own; a list whose items failed was reported
        # (checking *any* earlier issue hid this one behind an unrelated error elsewhere)
        if not parsed[key] and len(r.issues) == before:
            r.error(m[key], ctx, key, "must list at least one matcher")
    src, tgt = parsed["source_matchers"], parsed["target_matchers"]
    equal = r.scalar(m["equal"], ctx, "equal", _LIST) if "equal" in m else ("model",)
    return InhibitRule(
        source_matchers=src, target_matchers=tgt, equal=equal or (), source=r.pos(node)
    )


def _check_receivers(
    r: _Reader,
    route: RouteSpec,
    receivers: Mapping[str, ReceiverSpec],
    declared: set[str],
    inherited: str = "",
) -> None:
    """Report an unknown receiver once, on the route that names it (not on its children);
    one that is declared but has an error of its own was reported there."""
    if (
        route.receiver
        and route.receiver != inherited
        and route.receiver not in receivers
        and route.receiver not in declared
    ):
        known = ", ".join(sorted(receivers)) or "none declared"
        r.issues.append(
            ConfigIssue(
                route.source, f"unknown receiver {route.receiver!r} (known: {known})",
                "receiver", f"route {route.id}",
            )
        )  # fmt: skip
    for child in route.routes:
        _check_receivers(r, child, receivers, declared, route.receiver)
