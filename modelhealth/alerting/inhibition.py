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
        # Per rule: the `equal`-label values of its firing sources -> their fingerprints, each
        # with whether that source also matches the rule's target side (see `mutes`).
        self._sources: list[dict[tuple[str, ...], dict[str, bool]]] = [{} for _ in self.rules]

    def update(self, firing: Iterable[Alert]) -> None:
        """Replace the set of source candidates with the currently firing alerts."""
        self._sources = [{} for _ in self.rules]
        for alert in firing:
            for i, rule in enumerate(self.rules):
                if matches_all(rule.source_matchers, alert.labels):
                    key = tuple(alert.labels.get(k, "") for k in rule.equal)
                    both = matches_all(rule.target_matchers, alert.labels)
                    self._sources[i].setdefault(key, {})[alert.fingerprint] = both

    def mutes(self, labels: Mapping[str, str], now: datetime | None = None) -> bool:
        """Whether a firing source of some rule, with the same ``equal`` labels (a label
        missing on both sides counts as equal), mutes an alert with ``labels``.

        As Alertmanager's ``hasEqual(lset, excludeTwoSidedMatch)``: when the target alert
        also matches the rule's source side, only sources that do *not* match the target side
        count, so alerts matching both sides never mute one another (two ``ModelDown`` pages
        of one model, under a rule whose target also takes ``ModelDown``, muted each other,
        and nobody was paged); an alert never mutes itself.
        """
        from modelhealth.types import fingerprint

        fp = None
        for rule, sources in zip(self.rules, self._sources, strict=True):
            if not sources or not matches_all(rule.target_matchers, labels):
                continue
            hit = sources.get(tuple(labels.get(k, "") for k in rule.equal))
            if not hit:
                continue
            fp = fp or fingerprint(labels)
            two_sided = matches_all(rule.source_matchers, labels)
            if any(f != fp and not (two_sided and both) for f, both in hit.items()):
                return True
        return False
