"""Inhibition: a firing source alert (a model's critical page) mutes matching target alerts
(that model's warnings) so on-call sees the page, not a pile of consequences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from modelhealth.alerting.config import InhibitRule
from modelhealth.alerting.matchers import matches_all
from modelhealth.types import Alert


class Inhibitor:
    """Answers ``mutes(labels, now)`` from the firing alerts it was last given.

    >>> Inhibitor(()).mutes({"model": "m"}, None)
    False
    """

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        # Per rule: the `equal`-label values of its firing sources, plus their fingerprints so
        # an alert matching both sides does not inhibit itself (as in Alertmanager).
        self._sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in self.rules]

    def update(self, firing: Iterable[Alert]) -> None:
        """Replace the set of source candidates with the currently firing alerts."""
        self._sources = [{} for _ in self.rules]
        for alert in firing:
            for i, rule in enumerate(self.rules):
                if matches_all(rule.source_matchers, alert.labels):
                    key = tuple(alert.labels.get(k, "") for k in rule.equal)
                    self._sources[i].setdefault(key, set()).add(alert.fingerprint)

    def mutes(self, labels: Mapping[str, str], now: datetime | None = None) -> bool:
        from modelhealth.types import fingerprint

        fp = None
        for rule, sources in zip(self.rules, self._sources, strict=True):
            if not sources or not matches_all(rule.target_matchers, labels):
                continue
            hit = sources.get(tuple(labels.get(k, "") for k in rule.equal))
            if hit:
                fp = fp or fingerprint(labels)
                if hit - {fp}:
                    return True
        return False
