"""Slack-compatible incoming webhook (also accepted by Mattermost and Rocket.Chat).

The webhook URL embeds its credential, so it is normally given as ``url_env`` and redacted
from every error message. Label and annotation values are escaped and link URLs encoded
(:func:`escape`, :func:`link`): mrkdwn gives ``&``, ``<``, ``>`` and ``|`` meaning, so a raw
value could ping a channel, disguise a link or cut a link short.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from modelhealth.alerting.notifiers.base import NotificationBatch, Outcome, post_json

_COLORS = {"critical": "#d0312d", "warning": "#f2a900", "info": "#3572b0", "resolved": "#2eb67d"}


@dataclass(frozen=True, kw_only=True)
class SlackConfig:
    url: str = ""
    url_env: str = ""
    channel: str = ""
    timeout: float = 10.0


def escape(text: str) -> str:
    """``text`` as Slack wants literal text in a message: ``&``, ``<`` and ``>`` as HTML
    entities, and nothing else. Unescaped, a label or annotation reading ``a<b`` lost its
    tail, and one holding ``<!channel>`` or ``<https://x|click>`` notified the whole channel
    or showed a disguised link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, text: str) -> str:
    """``<url|text>``, a Slack link that stays one link whatever ``url`` and ``text`` hold.

    In the URL, ``|`` ``<`` ``>``, whitespace and control characters are percent-encoded (a
    ``|`` ended the URL early, a ``>`` ended the link and showed the rest as text, a space
    or line break broke it); ``&`` stays, as Slack reads a raw ``&`` in a link. The text is
    escaped as any text (a ``>`` in it would close the link).

    >>> link("https://x.example/a b?q=1|2", "Run<book>")
    '<https://x.example/a%20b?q=1%7C2|Run&lt;book&gt;>'
    """
    return f"<{_url(url)}|{escape(text)}>"


def _url(url: str) -> str:
    return "".join(
        quote(c, safe="") if c in "|<>" or c.isspace() or not c.isprintable() else c for c in url
    )


def alert_line(alert: Mapping[str, Any]) -> str:
    """One bullet per alert: its summary while it fires; once resolved, what resolved and why.

    A resolved alert's summary can still be its firing text (a deleted rule's resolve read
    "latency.p99 on m1: 300 > 100" as if that still held), so a resolve names the alert and
    shows its ``detail`` annotation, which says why it ended ("its rule was removed from the
    configs", "no data in the window: resolved as not judged", the value back in range).
    """
    ann, labels = alert["annotations"], alert["labels"]
    where = ", ".join(f"{k}={labels[k]}" for k in ("feature", "version") if k in labels)
    suffix = f" ({where})" if where else ""
    if alert.get("resolved_at") is None:
        return escape(f"• {ann.get('summary') or labels.get('alertname', '')}{suffix}")
    name = " on ".join(v for k in ("alertname", "model") if (v := labels.get(k, "")))
    detail = ann.get("detail", "").strip()
    return escape(f"• {name or 'alert'}{suffix} resolved" + (f": {detail}" if detail else ""))


class SlackNotifier:
    """Posts one message with an attachment per batch.

    >>> SlackNotifier(SlackConfig(url_env="HOOK"), env={"HOOK": "http://x/y"}).url
    'http://x/y'
    """

    def __init__(self, config: SlackConfig, env: Mapping[str, str] | None = None) -> None:
        env = env if env is not None else os.environ
        self.config = config
        self.url = config.url or env.get(config.url_env, "")

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> SlackNotifier:
        keys = {"url", "url_env", "channel", "timeout"}
        return cls(SlackConfig(**{k: v for k, v in options.items() if k in keys}), env)

    def payload(self, batch: NotificationBatch) -> dict[str, Any]:
        alerts = batch.firing if batch.status == "firing" else batch.resolved
        lines = [alert_line(a) for a in alerts[:20]]
        if len(alerts) > 20:
            lines.append(f"… and {len(alerts) - 20} more")
        ann = batch.common_annotations
        links = [
            link(href, text)
            for key, text in (("dashboard_url", "Dashboard"), ("runbook_url", "Runbook"))
            if (href := ann.get(key))
        ]
        if batch.incident_url and not ann.get("dashboard_url"):
            links.insert(0, link(batch.incident_url, "Dashboard"))
        color = _COLORS["resolved"] if batch.status == "resolved" else _COLORS.get(batch.severity)
        msg: dict[str, Any] = {
            "text": escape(batch.title),
            "attachments": [
                {
                    "color": color or _COLORS["info"],
                    "title": escape(batch.title),
                    "text": "\n".join(lines + ([" · ".join(links)] if links else [])),
                    "footer": "modelhealth",
                }
            ],
        }
        if self.config.channel:
            msg["channel"] = self.config.channel
        return msg

    def missing(self) -> list[str]:
        """Environment variables this receiver needs and does not have (checked at start)."""
        return [] if self.url else [self.config.url_env or "url"]

    def notify(self, batch: NotificationBatch) -> Outcome:
        if not self.url:
            return Outcome(False, False, f"no Slack webhook URL: set ${self.config.url_env}")
        return post_json(
            self.url, self.payload(batch), timeout=self.config.timeout, secrets=(self.url,)
        )
