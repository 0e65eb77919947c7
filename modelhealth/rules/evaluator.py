"""One evaluation tick: query -> detector -> state step -> hand-off to notify.

The tick's ``now`` is passed down and never read again, so backtests replay history through
the very same code path as live evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from modelhealth.clock import Clock, SystemClock, to_epoch_ms
from modelhealth.errors import EmptyWindow
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.metrics import MetricQueries
from modelhealth.rules.state import AlertStateStore, step
from modelhealth.store.backend import QueryBackend, Scope
from modelhealth.types import Alert, AlertState, DetectorResult, Series

log = logging.getLogger(__name__)

Notify = Callable[[Sequence[Alert], datetime], None]


@dataclass
class TickReport:
    """What one tick did, for logs, the CLI and tests."""

    at: datetime
    evaluated: int = 0
    instances: int = 0
    queries: int = 0
    firing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    changed: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def load_references(rules: Sequence[RuleSpec]) -> dict[str, ModelReference]:
    """Load each model's reference profile named by its config (once per path)."""
    refs: dict[str, ModelReference] = {}
    for r in rules:
        if r.reference_path and r.model not in refs and Path(r.reference_path).exists():
            refs[r.model] = ModelReference.load(r.reference_path)
    return refs


class Evaluator:
    """Evaluates rules against a store and keeps alert state across ticks and restarts."""

    def __init__(
        self,
        rules: Sequence[RuleSpec],
        store: QueryBackend,
        *,
        references: Mapping[str, ModelReference] | None = None,
        notify: Notify | None = None,
        state: AlertStateStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.rules = list(rules)
        self.store = store
        self.references = dict(references) if references is not None else load_references(rules)
        self.notify = notify
        self.state = state or AlertStateStore()
        self.clock = clock or SystemClock()
        self._detectors = {r.rule_id: r.build_detector() for r in self.rules}

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or self.clock.now()
        report = TickReport(at=now)
        queries = MetricQueries(self.store, self.references)
        end_ms = to_epoch_ms(now)
        for rule in self.rules:
            try:
                self._evaluate_rule(rule, queries, end_ms, now, report)
                report.evaluated += 1
            except Exception as exc:  # one broken rule must not stop the others
                log.warning("rule %s (%s) failed: %s", rule.name, rule.source, exc)
                report.errors[f"{rule.model}/{rule.name}"] = f"{type(exc).__name__}: {exc}"
        report.queries = queries.queries
        self.state.save()
        if self.notify is not None and (report.firing or report.resolved):
            self.notify([*report.firing, *report.resolved], now)
        return report

    def _evaluate_rule(
        self, rule: RuleSpec, queries: MetricQueries, end_ms: int, now: datetime, report: TickReport
    ) -> None:
        scope = Scope(
            rule.model,
            end_ms - int(rule.window.total_seconds() * 1000),
            end_ms,
            version=rule.version,
        )
        values = queries.values(rule.metric, scope, rule.group_by, rule.features)
        detector = self._detectors[rule.rule_id]
        seen: set[tuple[str, str]] = set()
        for mv in values:
            report.instances += 1
            try:
                result: DetectorResult = detector.evaluate(
                    Series(np.array([end_ms // 1000]), np.array([mv.value]))
                )
            except EmptyWindow:
                continue
            labels = {
                "alertname": rule.name,
                "severity": rule.severity,
                "metric": rule.metric,
                **rule.labels,
                **mv.labels,
            }
            annotations = _annotations(rule, result)
            from modelhealth.types import fingerprint

            key = (rule.rule_id, fingerprint(labels))
            seen.add(key)
            self._transition(
                key, result.anomalous, result.value, now, rule, labels, annotations, report
            )
        for key in [k for k in self.state.alerts if k[0] == rule.rule_id and k not in seen]:
            prev = self.state.alerts[key]
            self._transition(
                key, False, prev.value, now, rule, prev.labels, prev.annotations, report
            )

    def _transition(
        self,
        key: tuple[str, str],
        active: bool,
        value: float,
        now: datetime,
        rule: RuleSpec,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        report: TickReport,
    ) -> None:
        prev = self.state.alerts.get(key)
        nxt = step(prev, active, value, now, rule.hold_for, labels, annotations)
        if nxt is None:
            self.state.alerts.pop(key, None)
            return
        if prev is None or prev.state != nxt.state or nxt.is_resolved != prev.is_resolved:
            report.changed.append(nxt)
            self.state.record(key[0], nxt, now)
        if nxt.is_resolved:
            report.resolved.append(nxt)
            self.state.alerts.pop(key, None)
        else:
            self.state.alerts[key] = nxt
            if nxt.state == AlertState.FIRING:
                report.firing.append(nxt)


def _annotations(rule: RuleSpec, result: DetectorResult) -> dict[str, str]:
    ann = {
        "summary": rule.summary or f"{rule.metric} on {rule.model}: {result.detail}",
        "value": f"{result.value:.6g}",
        "detail": result.detail,
        "owners": ", ".join(rule.owners),
    }
    if result.expected is not None:
        ann["threshold"] = f"{result.expected:.6g}"
    if rule.runbook:
        ann["runbook_url"] = rule.runbook
    return ann
