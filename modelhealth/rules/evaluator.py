"""One evaluation tick: plan -> batched queries -> detector -> state step -> notify.

Three layers, kept apart: *evaluate* (``series.instances`` + ``detector.evaluate``: pure, series
in, verdict out), *remember* (``state.step`` + :class:`AlertStateStore`, persisted so a restart
neither re-fires nor forgets) and *notify* (one call per tick with the grouped alerts, see
:mod:`modelhealth.rules.grouping`). The tick's ``now`` is passed down and never read again, so
backtests replay history through the very same code path as live evaluation.

Not judged: an instance with data its rule cannot judge this tick (a drift window with fewer
values than ``min_count``, a baseline not available yet, too few labels) keeps its alert's
state by default (``when_not_judged: keep``, as Grafana's "keep last state"): a firing alert
stays firing, without a resolve, its value the last judged one; a pending one stays pending
(it fires only at a judged tick whose condition holds, once ``for:`` has elapsed since it
became pending); an inactive one stays inactive. The alert's ``not_judged`` and
``not_judged_since`` annotations say why and since when, until it is judged again, and
``rules run``'s ``/metrics`` counts such alerts (``modelhealth_alerts_not_judged``) with the
oldest one's start, to alert on one kept too long: there is no time limit. Before, such an
alert resolved, as an absent series does in Prometheus, and a drifted feature resolved every
night (too few values) and paged again every morning; ``when_not_judged: resolve`` does that.
An instance without any row in its window still resolves (an absent series), whichever is set.

Store outage: a rule whose queries fail is retried (``retries`` times within the tick), and
once one has failed that way the tick's remaining rules are reported as not evaluated rather
than each waiting out its own timeouts; when the store fails every rule for ``blind_after``
consecutive ticks, a ``MonitoringBlind`` critical meta-alert fires instead of silence, and
resolves when queries succeed again.

A rule whose detector cannot be built (a learned rule's model directory half-rewritten by a
retrain, or damaged: ``ModelLoadError``) does not stop the others: given the evaluator it
replaces (a reload), it keeps the detector it ran with; otherwise it is left out. Either way
it is one of :attr:`Evaluator.issues`. Before, the whole evaluator failed to build, so a
reload of ``rules run`` failed as a whole and the edits of every other file waited for the
model to be fixed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelhealth.clock import Clock, SystemClock, as_utc, to_epoch_ms
from modelhealth.errors import ConfigIssue, EmptyWindow, ModelHealthError, StoreUnavailable
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.detectors import lookback_of
from modelhealth.rules.frames import FrameSource
from modelhealth.rules.grouping import group_alerts
from modelhealth.rules.series import FIRST_DATA, RulePlan, first_data_ms, instances, plan_rule
from modelhealth.rules.state import AlertStateStore, step
from modelhealth.store.backend import QueryBackend
from modelhealth.types import (
    NOT_JUDGED,
    NOT_JUDGED_SINCE,
    Alert,
    AlertState,
    DetectorResult,
    fingerprint,
)

log = logging.getLogger(__name__)

Notify = Callable[[Sequence[Alert], datetime], None]
BLIND_RULE_ID = "monitoring-blind"
BLIND_LABELS = {"alertname": "MonitoringBlind", "severity": "critical", "model": "*"}


@dataclass
class TickReport:
    """What one tick did, for logs, the CLI and tests (``firing``/``resolved`` per instance,
    ``incidents`` grouped as handed to notify)."""

    at: datetime
    evaluated: int = 0
    skipped: int = 0
    instances: int = 0
    queries: int = 0
    firing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    changed: list[Alert] = field(default_factory=list)
    incidents: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    store_failed: bool = False
    unmatched: list[str] = field(default_factory=list)
    """``model/rule`` of rules evaluated without a single instance with data: a misspelt
    model or feature, or no traffic in the window (the command line says so)."""
    not_judged: dict[str, str] = field(default_factory=dict)
    """``model/rule`` -> why instances with data in the window were not judged (the first
    such instance's labels and reason, e.g. a baseline window before the model's first data;
    the command line says so)."""
    kept: list[Alert] = field(default_factory=list)
    """Alerts (pending or firing) kept in their state because their instance had data the
    rule could not judge this tick (``when_not_judged: keep``); firing ones are in
    :attr:`firing` too."""
    no_rows: dict[str, str] = field(default_factory=dict)
    """``model/rule`` -> e.g. "model churn has no rows in the store": rules without a value
    whose model (or the version they name) has no row at all, a misspelt or never-deployed
    model, not one of the causes :attr:`unmatched` lists (those rules are not in it)."""


def load_references(rules: Sequence[RuleSpec]) -> dict[str, ModelReference]:
    """Each model's reference profile named by its config: the one loaded when the config
    was validated (``RuleSpec.reference``), so a config load reads each profile once and a
    reload reads it afresh; read from ``reference_path`` only for a rule without one (built
    in code, or whose profile did not load: then logged)."""
    refs: dict[str, ModelReference] = {}
    for r in rules:
        if r.model in refs:
            continue
        if r.reference is not None:
            refs[r.model] = r.reference
        elif r.reference_path and Path(r.reference_path).exists():
            try:
                refs[r.model] = ModelReference.load(r.reference_path)
            except Exception as exc:  # reported by validation; the model's other rules run
                log.warning("reference %s of model %s: %s", r.reference_path, r.model, exc)
    return refs


INSTANCE_LABELS = ("model", "version", "feature", "check")
"""The labels that say which instance of a rule an alert is (the rest come from the rule)."""


def alert_labels(rule: RuleSpec, instance: Mapping[str, str]) -> dict[str, str]:
    """An alert's labels: the rule's name, severity, metric and labels, then its instance's."""
    return {
        "alertname": rule.name,
        "severity": rule.severity,
        "metric": rule.metric,
        **rule.labels,
        **instance,
    }


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
        retries: int = 2,
        blind_after: int = 3,
        group: bool = True,
        retire_orphans: bool = True,
        previous: Evaluator | None = None,
    ) -> None:
        """``retire_orphans``: resolve remembered alerts of rules that are gone from
        ``rules`` (see :meth:`_adopt_orphans`); pass False when some config files failed to
        load, so their rules' pages are kept rather than resolved.

        ``previous``: the evaluator this one replaces (a reload); a rule whose detector
        cannot be built now keeps the one it had there (:meth:`_build_detectors`)."""
        self.issues: list[ConfigIssue] = []
        """Rules whose detector could not be built, each located at its rule (file, line),
        saying whether it runs on with its previous detector or is left out."""
        self._left_out: set[tuple[str, str]] = set()  # (name, model) of rules left out
        self.ran_on: list[str] = []
        """``model/name`` of the rules that run on with ``previous``'s detector."""
        self.rules, self._detectors = self._build_detectors(rules, previous)
        self.store = store
        self.references = (
            dict(references) if references is not None else load_references(self.rules)
        )
        self.notify = notify
        self.state = state or AlertStateStore()
        self.clock = clock or SystemClock()
        self.retries = retries
        self.blind_after = blind_after
        self.group = group
        self._lookback = {
            r.rule_id: lookback_of(self._detectors[r.rule_id], r.window) for r in self.rules
        }
        self._successors: list[tuple[str, str]] = []  # relabelled alerts' new keys
        self._orphans = self._adopt_orphans(retire_orphans)
        self._history: dict[Any, Any] = {}  # complete-bucket frames kept across ticks
        self._first_data: dict[Any, int | None] = {}  # each model's first stored row
        self._first_data_at: int | None = None  # tick ms all of them were last forgotten
        self._no_data_at: int | None = None  # tick ms the "no data" answers were forgotten
        self._last_eval: dict[str, datetime] = {}
        self._last_seen: dict[str, int] = {}
        self._blind_ticks = 0
        self._seen_now: dict[str, int] = {}
        self._recall_schedule()

    def _build_detectors(
        self, rules: Sequence[RuleSpec], previous: Evaluator | None
    ) -> tuple[list[RuleSpec], dict[str, Any]]:
        """The rules that run and their detectors, built from each rule's config.

        A detector that cannot be built (a learned model that does not load, a detector's
        own bug) used to raise out of the constructor: at a reload, of every rule, since the
        rules a broken file kept are built anew too, so one damaged model directory held
        back every other file's edits until it was fixed. Now only that rule is affected:
        if ``previous`` ran a rule of the same name and model, it runs on with that rule's
        detector (the model it held; its alerts go on), under the new definition when the
        detector's config is unchanged (an edit of its severity or labels), under the
        previous one otherwise (its detector was built from that); a rule new to the
        evaluator is left out, its remembered alerts neither evaluated nor resolved (as a
        broken file's). Each is one of :attr:`issues`, and logged."""
        ran = {(r.name, r.model): r for r in previous.rules} if previous is not None else {}
        built = previous._detectors if previous is not None else {}
        out: list[RuleSpec] = []
        detectors: dict[str, Any] = {}
        for rule in rules:
            try:
                detectors[rule.rule_id] = rule.build_detector()
            except Exception as exc:  # one broken detector must not stop the other rules
                error = str(exc) if isinstance(exc, ModelHealthError) else repr(exc)
                old = ran.get((rule.name, rule.model))
                if old is not None:
                    if _detector_config(old) != _detector_config(rule):
                        rule = old
                    detectors[rule.rule_id] = built[old.rule_id]
                    self.ran_on.append(f"{rule.model}/{rule.name}")
                    outcome = "it runs on with the detector it had until it builds"
                else:
                    self._left_out.add((rule.name, rule.model))
                    outcome = "the rule is left out until it builds, its alerts stay as they were"
                issue = ConfigIssue(
                    rule.source,
                    f"cannot be built: {error}; {outcome}",
                    field="detector",
                    context=f'rule "{rule.name}" of model {rule.model}',
                )
                log.warning("%s", issue)
                self.issues.append(issue)
                if old is None:
                    continue
            out.append(rule)
        return out, detectors

    def _recall_schedule(self) -> None:
        """When each rule last ran, the newest data it saw and the store failures in a row,
        as the last process left them (``AlertStateStore.scheduler``). Kept in memory only,
        a restarted ``rules run`` evaluated a quiet ``trigger: new_data`` rule at once and
        resolved its firing alert as "no data", ``eval --once`` never applied ``schedule:``
        or ``trigger:``, and a store down across cron-style evals never made MonitoringBlind
        fire."""
        memory = self.state.scheduler
        ids = {r.rule_id for r in self.rules}
        try:
            self._last_eval = {
                rid: as_utc(datetime.fromisoformat(at))
                for rid, at in dict(memory.get("last_eval", {})).items()
                if rid in ids
            }
            self._last_seen = {
                rid: int(ms) for rid, ms in dict(memory.get("last_seen", {})).items() if rid in ids
            }
            self._blind_ticks = int(memory.get("blind_ticks", 0))
        except (TypeError, ValueError):  # a hand-edited file: start afresh, as before
            self._last_eval, self._last_seen, self._blind_ticks = {}, {}, 0

    def _remember_schedule(self) -> None:
        self.state.scheduler = {
            "last_eval": {rid: at.isoformat() for rid, at in self._last_eval.items()},
            "last_seen": dict(self._last_seen),
            "blind_ticks": self._blind_ticks,
        }

    def _adopt_orphans(self, retire: bool) -> list[tuple[tuple[str, str], str]]:
        """Re-key remembered alerts of edited rules; return the keys to resolve, with why.

        Alert state is keyed by the rule's id, a hash of its whole definition, so editing a
        rule (a threshold, a runbook link) gives it a new id. Its remembered alerts move to
        the rule with the same name and model, whose next evaluation continues or resolves
        them. An edit of its severity or labels also changes an alert's fingerprint: the
        alert continues under the new labels (a firing one stays firing, without waiting out
        ``for:`` again), and the old fingerprint is resolved at the next tick, saying so, as
        Alertmanager would see a relabelled Prometheus alert: left open, the old page never
        closed and the old critical kept muting the model's warnings. An alert whose rule is
        gone is resolved at the next tick (when ``retire``): kept, it would be re-reported
        as firing for ever and its page never closed.
        """
        ids = {r.rule_id for r in self.rules}
        by_name = {(r.name, r.model): r for r in self.rules}
        to_resolve: list[tuple[tuple[str, str], str]] = []
        for key in [k for k in self.state.alerts if k[0] not in ids and k[0] != BLIND_RULE_ID]:
            alert = self.state.alerts[key]
            if (alert.labels.get("alertname", ""), alert.labels.get("model", "")) in self._left_out:
                continue  # its rule is there but its detector did not build: kept as it was
            heir = by_name.get((alert.labels.get("alertname", ""), alert.labels.get("model", "")))
            if heir is not None:
                instance = {k: v for k, v in alert.labels.items() if k in INSTANCE_LABELS}
                labels = alert_labels(heir, instance)
                new_key = (heir.rule_id, fingerprint(labels))
                if new_key not in self.state.alerts:
                    self.state.alerts[new_key] = dataclasses.replace(alert, labels=labels)
                    relabelled = fingerprint(labels) != fingerprint(alert.labels)
                    if relabelled and alert.state is AlertState.FIRING:
                        # the old fingerprint stays at its key to be resolved like an orphan
                        to_resolve.append(
                            (key, "its rule was edited: it goes on with the new labels")
                        )
                        self._successors.append(new_key)
                    else:
                        del self.state.alerts[key]
                    continue
            if retire:
                to_resolve.append((key, "its rule was removed from the configs"))
        return to_resolve

    def _retire_orphans(self, now: datetime, report: TickReport) -> None:
        """Resolve the alerts of deleted rules and the old fingerprints of relabelled ones,
        then write a history row for each relabelled alert's successor, so the timeline shows
        it go on."""
        for key, why in self._orphans:
            prev = self.state.alerts.get(key)
            if prev is not None:
                # the firing comparison no longer holds: say why it resolves (chat receivers
                # show the summary line only)
                ann = {**prev.annotations, "summary": f"resolved: {why}", "detail": why}
                self._transition(
                    key, False, prev.value, now, timedelta(0), prev.labels, ann, report
                )
        for key in self._successors:
            if (successor := self.state.alerts.get(key)) is not None:
                self.state.record(key[0], successor, now)
        self._orphans, self._successors = [], []

    # -- the tick ------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or self.clock.now()
        report = TickReport(at=now)
        self._retire_orphans(now, report)
        source = FrameSource(self.store, keep=self._history)
        end_ms = to_epoch_ms(now)
        source.memo[FIRST_DATA] = self._recall_first_data(end_ms)
        due = self._due_rules(now, source, report)
        plans: dict[str, RulePlan] = {}
        for rule in due:
            try:
                plans[rule.rule_id] = plan_rule(
                    rule,
                    self._lookback[rule.rule_id],
                    judged_end_ms(self._detectors[rule.rule_id], rule.window, end_ms),
                    self.references.get(rule.model),
                )
            except Exception as exc:
                report.errors[f"{rule.model}/{rule.name}"] = f"{type(exc).__name__}: {exc}"
        for rule in due:
            for key in plans[rule.rule_id].keys() if rule.rule_id in plans else ():
                source.plan(key, rule.model)
        ok = failed = 0
        down = ""  # why the store failed a rule after its retries; the rest are not tried
        for rule in due:
            if rule.rule_id not in plans:
                continue
            if down:
                # A broker that accepts connections and never answers costs each query its
                # whole timeout: trying every rule made one tick take many minutes, silently.
                failed += 1
                report.errors[f"{rule.model}/{rule.name}"] = f"not evaluated: {down}"
                continue
            for attempt in range(self.retries + 1):
                try:
                    self._evaluate_rule(rule, plans[rule.rule_id], source, now, report)
                    report.evaluated += 1
                    self._last_eval[rule.rule_id] = now
                    if rule.rule_id in self._seen_now:
                        self._last_seen[rule.rule_id] = self._seen_now[rule.rule_id]
                    ok += 1
                    break
                except StoreUnavailable as exc:
                    if attempt == self.retries:
                        failed += 1
                        report.errors[f"{rule.model}/{rule.name}"] = str(exc)
                        down = f"the store failed this tick ({exc})"
                        log.warning("store failed on rule %s (%s) after %d attempt(s): %s;"
                                    " the tick's other rules are skipped", rule.name, rule.model,
                                    attempt + 1, exc)  # fmt: skip
                except Exception as exc:  # one broken rule must not stop the others
                    log.warning("rule %s (%s) failed: %s", rule.name, rule.source, exc)
                    report.errors[f"{rule.model}/{rule.name}"] = f"{type(exc).__name__}: {exc}"
                    break
        report.store_failed = failed > 0 and ok == 0
        self._watch_blindness(report, now)
        report.queries = source.queries
        if not source.failures:
            source.forget_unused()
        self._carry_over_firing(now, report)
        report.incidents = (
            group_alerts(report.firing, report.resolved, now)
            if self.group
            else [*report.firing, *report.resolved]
        )
        try:
            if self.notify is not None and report.incidents:
                self.notify(report.incidents, now)
        finally:
            # saved after the hand-off: a crash in between re-reports (deduplicated downstream)
            # instead of losing a resolve
            self._remember_schedule()
            self.state.save()
        return report

    def _recall_first_data(self, end_ms: int) -> dict[Any, int | None]:
        """The first stored row of each model (and version) the rules asked for (see
        ``series.first_data_ms``), kept across ticks: all of them asked again once an hour
        (of tick time), in case older rows were loaded, and a model without data yet once
        every :data:`NO_DATA_RECHECK_MS`: asked at every tick, each model that never sent
        data (or was retired) cost a query per tick. Callers that read rows of a model ask
        again (``has_rows``), so a kept "no data" never keeps a partial first bucket in a
        history nor leaves a baseline with rows unjudged."""
        if _expired(self._first_data_at, end_ms, FIRST_DATA_REFRESH_MS):
            self._first_data.clear()
            self._first_data_at = self._no_data_at = end_ms
        elif _expired(self._no_data_at, end_ms, NO_DATA_RECHECK_MS):
            for key in [k for k, first in self._first_data.items() if first is None]:
                del self._first_data[key]
            self._no_data_at = end_ms
        return self._first_data

    def _carry_over_firing(self, now: datetime, report: TickReport) -> None:
        """Re-report firing alerts of rules not evaluated this tick (off-schedule, waiting for
        new data, or failed), so the alerting layer's resolve_timeout does not resolve them."""
        evaluated = {rid for rid, at in self._last_eval.items() if at == now}
        reported = {a.fingerprint for a in report.firing}
        for (rule_id, fp), alert in self.state.alerts.items():
            if rule_id in evaluated or fp in reported or alert.state != AlertState.FIRING:
                continue
            report.firing.append(alert)
            reported.add(fp)

    def _due_rules(self, now: datetime, source: FrameSource, report: TickReport) -> list[RuleSpec]:
        """Rules whose cron schedule came round and, with ``trigger: new_data``, saw new rows.

        When the store cannot say what is new, ``new_data`` rules are due: their own queries
        then fail and count towards ``MonitoringBlind`` (skipped, an outage was silent). The
        newest row a rule saw is remembered only once it has been evaluated (``_seen_now``):
        remembered before, data whose evaluation failed was never judged."""
        seen: dict[str, int] | None = None
        fetched = False
        self._seen_now = {}
        due = []
        for rule in self.rules:
            last = self._last_eval.get(rule.rule_id)
            if last is not None and last > now:  # evaluated "later" before (--at in the past)
                self._last_eval.pop(rule.rule_id, None)
                self._last_seen.pop(rule.rule_id, None)
                last = None
            if rule.schedule and last is not None:
                from croniter import croniter

                if croniter(rule.schedule, last).get_next(datetime) > now:
                    report.skipped += 1
                    continue
            if rule.trigger == "new_data":
                if not fetched:
                    seen, fetched = self._fetch_last_seen(source, now), True
                if seen is not None:
                    newest = seen.get(rule.model)
                    if newest is None or newest <= self._last_seen.get(rule.rule_id, -1):
                        report.skipped += 1
                        continue
                    self._seen_now[rule.rule_id] = newest
            due.append(rule)
        return due

    def _fetch_last_seen(self, source: FrameSource, now: datetime) -> dict[str, int] | None:
        """Each model's newest inference before ``now``: a backtest replays ticks over data
        that goes on after them, and reading the store's newest row made ``trigger:
        new_data`` rules see nothing new after the first tick (they never fired)."""
        until = to_epoch_ms(now)
        try:
            df = source._run(lambda: self.store.last_seen(until))  # counted like other queries
        except StoreUnavailable:
            return None
        return {str(m): int(t) for m, t in zip(df["model"], df["last_ts"], strict=True)}

    def _evaluate_rule(
        self, rule: RuleSpec, plan: RulePlan, source: FrameSource, now: datetime, report: TickReport
    ) -> None:
        detector = self._detectors[rule.rule_id]
        seen: set[tuple[str, str]] = set()
        pending: list[tuple[tuple[str, str], DetectorResult, dict[str, str], Any]] = []
        not_judged: dict[tuple[str, str], str] = {}  # why an instance with data was not judged
        first_unjudged = ""  # its labels beyond the model, for the report
        found = instances(rule, plan, source, self.references.get(rule.model))
        self._stretch_lookback(rule, detector, found)
        for inst in found:
            labels = alert_labels(rule, inst.labels)
            key = (rule.rule_id, fingerprint(labels))
            why = inst.not_judged  # e.g. a drift window with fewer values than min_count
            if why is None:
                try:
                    result: DetectorResult = detector.evaluate(inst.series, inst.baseline)
                except EmptyWindow as exc:  # e.g. an empty baseline
                    why = inst.baseline_missing or str(exc) or NO_DATA
            if why is not None:
                if not not_judged:
                    first_unjudged = _which(inst.labels, rule)
                not_judged[key] = why
                continue
            pending.append((key, result, labels, inst.annotations))
        if not_judged:
            more = len(not_judged) - 1
            report.not_judged[f"{rule.model}/{rule.name}"] = (
                (f"{first_unjudged}: " if first_unjudged else "")
                + next(iter(not_judged.values()))
                + (f" (and {more} more instance(s))" if more else "")
            )
        elif not pending:
            if absent := _no_rows(rule, source):
                report.no_rows[f"{rule.model}/{rule.name}"] = absent
            else:
                report.unmatched.append(f"{rule.model}/{rule.name}")
        # transitions only after every instance evaluated: a store error mid-rule changes nothing
        for key, result, labels, extra in pending:
            report.instances += 1
            seen.add(key)
            self._judged_again(key)
            self._transition(
                key,
                result.anomalous,
                result.value,
                now,
                rule.hold_for,
                labels,
                {**_annotations(rule, result, now, detector), **extra},
                report,
                rule.keep_firing_for,
            )
        for key in [k for k in self.state.alerts if k[0] == rule.rule_id and k not in seen]:
            prev = self.state.alerts[key]
            why = not_judged.get(key)
            if why is not None and rule.when_not_judged == "keep":
                # data the rule cannot judge (too few values, no baseline yet): "unknown" is
                # not "recovered", so the alert keeps its state (when_not_judged: keep)
                self._keep_unjudged(key, prev, why, now, report)
                continue
            # no rows at all this tick (or when_not_judged: resolve): the instance is not
            # judged, and its alert resolves as in Prometheus; the resolve says why instead
            # of the stale comparison
            ann = _not_judged(rule, prev.annotations, why or NO_DATA)
            self._transition(
                key, False, prev.value, now, rule.hold_for, prev.labels, ann, report,
                rule.keep_firing_for,
            )  # fmt: skip

    def _keep_unjudged(
        self, key: tuple[str, str], prev: Alert, why: str, now: datetime, report: TickReport
    ) -> None:
        """Keep an alert whose instance has data its rule cannot judge this tick, as it was:
        a firing one stays firing (re-reported, no resolve: a drift window that holds too
        few values at night says nothing of whether the drift is over), a pending one stays
        pending (it fires only at a judged tick), its value the last judged one. Its
        annotations say why and since when (``not_judged``, ``not_judged_since``: the first
        tick of the run of not-judged ticks), until it is judged again."""
        since = prev.annotations.get(NOT_JUDGED_SINCE) or now.isoformat()
        kept = dataclasses.replace(
            prev, annotations={**prev.annotations, NOT_JUDGED: why, NOT_JUDGED_SINCE: since}
        )
        self.state.alerts[key] = kept
        report.kept.append(kept)
        if kept.state == AlertState.FIRING:
            report.firing.append(kept)

    def _judged_again(self, key: tuple[str, str]) -> None:
        """Drop the not-judged annotations of an alert whose instance is judged again (a
        kept-firing lull, ``keep_firing_for``, would carry them on)."""
        prev = self.state.alerts.get(key)
        if prev is not None and NOT_JUDGED in prev.annotations:
            self.state.alerts[key] = dataclasses.replace(
                prev, annotations=_without_not_judged(prev.annotations)
            )

    def _stretch_lookback(self, rule: RuleSpec, detector: Any, found: Sequence[Any]) -> None:
        """Fetch more history from the next tick on when a detector says its series holds
        too few points for the time fetched (``lookback_needed``: the learned detector on a
        model without buckets at night or at weekends)."""
        needed = getattr(detector, "lookback_needed", None)
        if needed is None:
            return
        now = self._lookback[rule.rule_id]
        wants = [needed(inst.series, rule.window, now) for inst in found]
        want = max((w for w in wants if w is not None), default=None)
        if want is not None and want > now:
            log.info("rule %s (%s): lookback %s -> %s, its series have gaps",
                     rule.name, rule.model, now, want)  # fmt: skip
            self._lookback[rule.rule_id] = want

    def _watch_blindness(self, report: TickReport, now: datetime) -> None:
        self._blind_ticks = self._blind_ticks + 1 if report.store_failed else 0
        blind = self._blind_ticks >= self.blind_after
        ann = (
            {
                "summary": f"rules cannot query the store ({self._blind_ticks} ticks in a "
                "row): monitoring is blind",
                "detail": next(iter(report.errors.values()), ""),
            }
            if report.store_failed
            else {"summary": "rules reach the store again: monitoring is back", "detail": ""}
        )
        key = (BLIND_RULE_ID, fingerprint(BLIND_LABELS))
        if blind or key in self.state.alerts:
            self._transition(
                key, blind, float(self._blind_ticks), now, timedelta(0), BLIND_LABELS, ann, report
            )

    def _transition(
        self,
        key: tuple[str, str],
        active: bool,
        value: float,
        now: datetime,
        hold_for: timedelta,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        report: TickReport,
        keep_firing_for: timedelta = timedelta(0),
    ) -> None:
        prev = self.state.alerts.get(key)
        nxt = step(prev, active, value, now, hold_for, labels, annotations, keep_firing_for)
        if nxt is None:
            if prev is not None and prev.state == AlertState.PENDING and not prev.is_resolved:
                # a pending alert that clears is forgotten (Prometheus) and nobody was told of
                # it, so nobody is told now; but the history records the episode's end, else
                # it ended on a dangling "pending"
                ann = dict(annotations) or dict(prev.annotations)
                now_ = ann.get("detail", "")
                ann["detail"] = "cleared while pending" + (f": {now_}" if now_ else "")
                ended = dataclasses.replace(
                    prev,
                    state=AlertState.INACTIVE,
                    resolved_at=now,
                    value=value,
                    annotations=ann,
                )
                report.changed.append(ended)
                self.state.record(key[0], ended, now)
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


FIRST_DATA_REFRESH_MS = 3_600_000
"""How long (in tick time) the evaluator trusts the first stored rows it looked up."""
NO_DATA_RECHECK_MS = 300_000
"""How long (in tick time) the evaluator trusts a "no data in the store" answer, so a model
that starts sending is noticed within 5 minutes. A history or baseline window with rows of
the model asks again at once (``series.first_data_ms``, ``has_rows``), so a kept answer
changes one verdict only: a baseline window without rows that lies after the model's first
data (a silence right after it went live) stays not judged up to 5 minutes longer, never
judged as 0 wrongly."""


def _expired(at: int | None, now_ms: int, span_ms: int) -> bool:
    """Whether a lookup made at tick ``at`` is to be made again at ``now_ms``: never made,
    older than ``span_ms``, or made "later" (a backtest or ``--at`` going back in time)."""
    return at is None or not 0 <= now_ms - at < span_ms


def _no_rows(rule: RuleSpec, source: FrameSource) -> str:
    """Says "model M has no rows in the store" (or none of the version the rule names) when
    that is why ``rule`` has no value, else "". The store's first row of each model is
    remembered across ticks (``series.first_data_ms``, asked again every
    :data:`NO_DATA_RECHECK_MS`), so this costs no query per tick once known: a model with
    no rows used to get the five possible causes of a rule without a value."""
    if first_data_ms(source, rule.model) is None:
        return f"model {rule.model} has no rows in the store"
    if rule.version is not None and first_data_ms(source, rule.model, rule.version) is None:
        return f"model {rule.model} has no rows of version {rule.version} in the store"
    return ""


def _which(labels: Mapping[str, str], rule: RuleSpec) -> str:
    """An instance's labels beyond the rule's model (and version), e.g. ``version=v2``."""
    return ", ".join(
        f"{k}={v}"
        for k, v in labels.items()
        if k != "model" and not (k == "version" and rule.version is not None)
    )


def _detector_config(rule: RuleSpec) -> tuple[str, dict[str, Any]]:
    """What a rule's detector is built from (:meth:`RuleSpec.build_detector`)."""
    return rule.detector_type, dict(rule.detector_params)


NO_DATA = "no data in the window"


def _without_not_judged(annotations: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k not in (NOT_JUDGED, NOT_JUDGED_SINCE)}


def _not_judged(rule: RuleSpec, previous: Mapping[str, str], why: str) -> dict[str, str]:
    """Annotations of an alert resolved because its instance was not judged this tick."""
    detail = f"{why}: resolved as not judged"
    return {
        **_without_not_judged(previous),
        "summary": rule.summary or f"{rule.metric} on {rule.model}: {detail}",
        "detail": detail,
    }


def judged_end_ms(detector: Any, window: timedelta, end_ms: int) -> int:
    """Where the window a rule judges at ``end_ms`` ends.

    A detector that compares the newest window with the same phase of past seasons
    (``complete_windows``: seasonal, Holt-Winters) judges the newest *complete* window on the
    clock's grid, as ThirdEye judges complete buckets: its history is grid buckets, and the
    window ``[now - 1h, now)`` at 00:20 was compared with last week's 23:00-00:00, so traffic
    that steps up at midnight every week paged at 00:20 and 00:30. Other rules judge the
    window that ends now."""
    if not getattr(detector, "complete_windows", False):
        return end_ms
    w = int(window.total_seconds() * 1000)
    return (end_ms // w) * w if w > 0 else end_ms


def _annotations(
    rule: RuleSpec, result: DetectorResult, now: datetime, detector: Any = None
) -> dict[str, str]:
    ann = {
        "summary": rule.summary or f"{rule.metric} on {rule.model}: {result.detail}",
        "value": f"{result.value:.6g}",
        "score": f"{result.score:.6g}",
        "detail": result.detail,
        "owners": ", ".join(rule.owners),
        "detector": rule.detector_type,
    }
    if result.expected is not None:
        ann["threshold" if rule.detector_type == "threshold" else "expected"] = (
            f"{result.expected:.6g}"
        )
    if rule.baseline is not None:
        ann["baseline"] = str(rule.baseline)
    if rule.runbook:
        ann["runbook_url"] = rule.runbook
    now_ms = to_epoch_ms(now)
    before_now = timedelta(milliseconds=now_ms - judged_end_ms(detector, rule.window, now_ms))
    if rule.label_delay or before_now:
        # the window judged ended before now: notifications say which, and link back to it
        end = now - before_now - rule.label_delay
        ann["judged_from"] = (end - rule.window).isoformat()
        ann["judged_to"] = end.isoformat()
        ann["judged_note"] = (
            "the predictions whose labels are in"
            if rule.label_delay
            else "the newest complete window, compared with the same window of past seasons"
        )
    return ann
