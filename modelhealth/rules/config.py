"""YAML alert configs -> validated RuleSpec objects, with every error located at file:line.

One file per model (or team)::

    model: fraud
    owners: [fraud-oncall@example.com]
    labels: {team: risk}
    reference: references/fraud.json      # training profile for drift baselines
    contract: contracts/fraud.contract.yaml   # data contract for contract.* metrics
    rules:
      - name: p99-latency
        metric: latency.p99
        window: 15m
        group_by: [version]
        detector: {type: threshold, above: 250}
        for: 5m
        severity: critical
        runbook: https://wiki.example.com/runbooks/fraud-latency

A broken rule is reported and skipped; the other rules of the file (and other files) load.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import inspect
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from modelhealth.contracts import DataContract
from modelhealth.errors import ConfigIssue, ModelHealthError, SourcePos, undecodable_at
from modelhealth.ingestion.reference import ModelReference, load_reference
from modelhealth.names import is_valid_name
from modelhealth.rules.contract import file_contract
from modelhealth.rules.detectors import DETECTORS, PATH_PARAMS, lookback_of
from modelhealth.rules.durations import MAX_DURATION, format_duration, parse_duration
from modelhealth.rules.fields import (
    FieldError,
    parse_baseline,
    parse_min_count,
    parse_schedule,
    parse_trigger,
    parse_when_not_judged,
    version_problem,
)
from modelhealth.rules.fields import (
    suggest as _suggest,
)
from modelhealth.rules.metrics import (
    FEATURE_METRICS,
    MODEL_METRICS,
    SCORE_DRIFT_PREFIX,
    effective_min_count,
    frame_kind,
    is_contract_metric,
    is_drift_metric,
    is_feature_metric,
    is_performance_metric,
    known_metrics,
    takes_min_count,
)
from modelhealth.rules.series import BaselineSpec
from modelhealth.rules.yamlnodes import Node, load_yaml, problems

SEVERITIES = ("critical", "warning", "info")
_FILE_KEYS = {"model", "owners", "labels", "reference", "contract", "rules", "description"}
DETECTOR_PARAM_HINT = (
    " (lookback belongs in the detector, e.g. detector: {type: zscore, lookback: 1d})"
)
"""Said of a rule-level ``lookback:``: the change, zscore and learned detectors take it inside
``detector:``, and "unknown key" alone did not say where it goes."""

_RULE_KEYS = {
    "name",
    "metric",
    "window",
    "features",
    "group_by",
    "version",
    "detector",
    "for",
    "severity",
    "labels",
    "runbook",
    "summary",
    "description",
    "enabled",
    "baseline",
    "schedule",
    "trigger",
    "owners",
    "label_delay",
    "keep_firing_for",
    "min_count",
    "when_not_judged",
}


@dataclass(frozen=True, kw_only=True)
class RuleSpec:
    """One validated alert rule; identity is a hash of its content, not its name."""

    name: str
    model: str
    metric: str
    window: timedelta
    detector_type: str
    detector_params: Mapping[str, Any]
    hold_for: timedelta = timedelta(0)
    severity: str = "warning"
    features: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    version: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[str, ...] = ()
    runbook: str = ""
    summary: str = ""
    reference_path: str | None = None
    # loaded once per config file (validating it) and shared by its rules; None when the file
    # names none, or one that could not be used; identity is reference_path
    reference: ModelReference | None = field(default=None, compare=False, repr=False)
    baseline: BaselineSpec | None = None
    schedule: str | None = None
    trigger: str | None = None
    contract_path: str | None = None
    # loaded once per config file and shared by its rules; identity is contract_path
    contract: DataContract | None = field(default=None, compare=False, repr=False)
    label_delay: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    min_count: int | None = None
    """Valid values a drift rule's window and baseline must hold to be judged; None: the
    metric's default (``metrics.default_min_count``), 0: any window."""
    when_not_judged: str = "keep"
    """What an alert does at a tick whose instance has data the rule cannot judge (too few
    values for ``min_count``, no baseline yet, too few labels): ``keep`` its state, or
    ``resolve`` (Prometheus' treatment of an absent series; rules before it existed)."""
    source: SourcePos = SourcePos("<memory>")

    @property
    def is_feature_rule(self) -> bool:
        return is_feature_metric(self.metric)

    @functools.cached_property
    def rule_id(self) -> str:
        blob = json.dumps(
            {
                k: str(getattr(self, k))
                for k in _SPEC_FIELDS
                if k not in ("source", "contract", "reference")
                # a field added later is hashed only when set, so existing rules keep their ids
                and not (k == "label_delay" and not self.label_delay)
                and not (k == "keep_firing_for" and not self.keep_firing_for)
                and not (k == "min_count" and self.min_count is None)
                and not (k == "when_not_judged" and self.when_not_judged == "keep")
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def group_key(self) -> tuple[str, str]:
        """Alerts of one (rule, model) form one incident (see rules.grouping)."""
        return (self.name, self.model)

    def build_detector(self) -> Any:
        return DETECTORS[self.detector_type](**self.detector_params)


_SPEC_FIELDS = tuple(RuleSpec.__dataclass_fields__)


@dataclass
class LoadResult:
    rules: list[RuleSpec] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What is not an error: files skipped on purpose (e.g. a data contract kept beside the
    rules), and warnings about rules that load (a feature their reference profile lacks)."""

    @property
    def ok(self) -> bool:
        return not self.issues


class _RuleBuilder:
    """Validates one rule mapping, collecting issues with positions."""

    def __init__(self, file_ctx: dict[str, Any], node: Node, index: int) -> None:
        self.ctx = file_ctx
        self.node = node
        self.issues: list[ConfigIssue] = []
        raw_name = (
            node.value.get("name").value
            if isinstance(node.value, dict) and "name" in node.value
            else None
        )
        # only a name that is text labels the rule: `name: [p99]` is reported at its field
        named = isinstance(raw_name, str) and raw_name
        self.label = f'rule {index + 1} "{raw_name}"' if named else f"rule {index + 1}"
        self.lookback = timedelta(0)  # of the built detector
        self.window: timedelta | None = None  # of the rule, once parsed
        self.unreadable: set[str] = set()  # top-level keys whose value YAML could not read
        self.notes: list[str] = []  # warnings: the rule loads (LoadResult.notes)

    def issue(self, pos: SourcePos, field_name: str, message: str) -> None:
        if field_name.split(".", 1)[0] in self.unreadable:
            return  # already reported as unreadable; other complaints about it are noise
        self.issues.append(ConfigIssue(pos, message, field_name, self.label))

    def _yaml_problems(self) -> None:
        """Unreadable values (``from: 2026-02-30``) and repeated keys, with this rule's name."""
        found = list(problems(self.node))
        for pos, path, message, _ in found:
            self.issue(pos, path, message)
        self.unreadable |= {
            path.split(".", 1)[0].split("[", 1)[0] for _, path, _, bad in found if bad and path
        }

    def get(self, key: str) -> Node | None:
        return self.node.value.get(key)

    def build(self) -> RuleSpec | None:
        self._yaml_problems()
        if not isinstance(self.node.value, dict):
            self.issue(self.node.pos, "", "each rule must be a mapping")
            return None
        for key, val in self.node.value.items():
            if key == "lookback":
                self.issue(val.pos, key, "unknown key" + DETECTOR_PARAM_HINT)
            elif key not in _RULE_KEYS:
                self.issue(val.pos, key, "unknown key" + _suggest(key, _RULE_KEYS))
        name = self._required_str("name")
        if name is not None and not is_valid_name(name):
            self.issue(
                self.get("name").pos,
                "name",  # type: ignore[union-attr]
                "must be letters, digits, '_', '.', '-'",
            )
        metric = self._metric()
        window = self.window = self._duration("window", required=True)
        hold_for = self._duration("for", required=False) or timedelta(0)
        keep_firing_for = self._duration("keep_firing_for", required=False) or timedelta(0)
        severity = self._severity()
        detector_type, params = self._detector()
        features = self._features()
        group_by = self._group_by(metric)
        if features and metric and not is_feature_metric(metric):
            self.issue(
                self.get("features").pos,
                "features",  # type: ignore[union-attr]
                f"only feature metrics take 'features'; {metric!r} is a model metric",
            )
        elif features and self.ctx["profile"] is not None:
            self._check_profiled(features)
        labels = self._labels()
        version = self._version(self.get("version"), "version")
        skip = False
        if metric and frame_kind(metric) == "score_hist" and self.lookback > timedelta(0):
            self.issue(
                self.get("detector").pos,  # type: ignore[union-attr]
                "detector",
                f"{metric} is computed for the current window only (no history), but this "
                f"detector needs {format_duration(self.lookback)} of it, so it would never "
                "fire; use one without lookback, e.g. {type: threshold, above: 0.2}",
            )
        if metric and is_contract_metric(metric):
            skip = self._check_contract_rule(metric)
            baseline = None
        else:
            baseline = self._baseline(metric)
            if metric:
                self._check_reference(metric, baseline)
        schedule = self._schedule()
        trigger = self._trigger()
        label_delay = self._label_delay(metric)
        min_count = self._field(parse_min_count, self.get("min_count"), metric)
        when_not_judged = self._field(parse_when_not_judged, self.get("when_not_judged")) or "keep"
        if metric and takes_min_count(metric):
            self._check_reference_size(metric, features, baseline, min_count)
        owners = list(self.ctx["owners"])
        if self.get("owners") is not None:
            owners, owner_issues = owner_list(self.get("owners"))
            for pos, message in owner_issues:
                self.issue(pos, "owners", message)
        if (
            detector_type == "change"
            and self.get("baseline") is None
            and not params.get("lookback")
        ):
            self.issue(
                self.get("detector").pos,  # type: ignore[union-attr]
                "detector",
                "change needs a baseline: add 'baseline:' to the rule (e.g. {shift: 7d}) or "
                "'lookback:' to the detector",
            )
        if detector_type == "learned" and hold_for > timedelta(0):
            self.issue(
                self.get("for").pos,  # type: ignore[union-attr]
                "for",
                "a learned detector alerts where an anomaly starts, for a bucket or two, not "
                "for as long as it lasts, so with 'for:' a spike is never reported and a level "
                "shift resolves early; remove 'for:' (to demand persistence set the "
                "detector's min_duration: N, consecutive buckets)",
            )
        runbook = self._optional_str("runbook") or ""
        summary = self._optional_str("summary") or ""
        enabled = self.get("enabled")
        if enabled is not None and not isinstance(enabled.value, bool):
            # `enabled: "false"` (quoted) is a string: it used to leave the rule enabled
            self.issue(enabled.pos, "enabled", f"must be true or false, got {enabled.value!r}")
        if self.issues or skip or None in (name, metric, window, detector_type):
            return None
        if enabled is not None and enabled.value is False:
            return None
        return RuleSpec(
            name=name,
            model=self.ctx["model"],
            metric=metric,
            window=window,  # type: ignore[arg-type]
            detector_type=detector_type,
            detector_params=params,  # type: ignore[arg-type]
            hold_for=hold_for,
            severity=severity,
            features=tuple(features),
            group_by=tuple(group_by),
            version=version,
            labels={**self.ctx["labels"], **labels},
            owners=tuple(owners),
            runbook=runbook,
            summary=summary,
            reference_path=self.ctx["reference"],
            reference=self.ctx["profile"],
            contract_path=self.ctx["contract_path"] if is_contract_metric(metric) else None,
            contract=self.ctx["contract"] if is_contract_metric(metric) else None,
            baseline=baseline,
            schedule=schedule,
            trigger=trigger,
            label_delay=label_delay,
            keep_firing_for=keep_firing_for,
            min_count=min_count,
            when_not_judged=when_not_judged,
            source=self.node.pos,
        )

    def _check_contract_rule(self, metric: str) -> bool:
        """Issues for a ``contract.*`` rule; True to skip it silently (its contract failed to
        load, which is already reported once at the file's ``contract:`` line)."""
        if self.ctx["contract_path"] is None:
            self.issue(
                self.get("metric").pos,  # type: ignore[union-attr]
                "metric",
                f"{metric} needs the model's data contract: add 'contract: PATH' at the top of "
                "this file (build one with `modelhealth contract create`)",
            )
        if self.lookback > timedelta(0):
            self.issue(
                self.get("detector").pos,  # type: ignore[union-attr]
                "detector",
                "contract metrics are computed for the current window only (no history), but "
                f"this detector needs {format_duration(self.lookback)} of it; use one without "
                "lookback, e.g. {type: threshold, above: 1.5}",
            )
        if self.get("baseline") is not None:
            self.issue(
                self.get("baseline").pos,  # type: ignore[union-attr]
                "baseline",
                "contract metrics compare with the contract itself; remove 'baseline:'",
            )
        return self.ctx["contract"] is None

    def _check_reference_size(
        self,
        metric: str,
        features: list[str],
        baseline: BaselineSpec | None,
        min_count: int | None,
    ) -> None:
        """Warn of the features (or the score) the reference profile holds fewer valid values
        of than the rule's ``min_count``: a drift rule needs that many on both sides, so it
        would never judge them, and the evaluation would only say so at every tick."""
        profile = self.ctx["profile"]
        floor = effective_min_count(metric, min_count)
        compared = baseline.kind == "reference" if baseline else self.get("baseline") is None
        if not floor or profile is None or not compared:
            return
        if metric.startswith(SCORE_DRIFT_PREFIX):
            sizes = {"the score": sum(profile.score_counts)}
        else:
            sizes = {
                repr(name): sum(f.counts)
                for name, f in profile.features.items()
                if not features or any(fnmatch.fnmatchcase(name, p) for p in features)
            }
        few = [f"{name} ({n:.0f})" for name, n in sizes.items() if 0 < n < floor]
        if not few:
            return
        pos = (self.get("min_count") or self.get("metric")).pos  # type: ignore[union-attr]
        why = (
            f"warning: the reference profile {self.ctx['reference']} holds fewer than min_count"
            f" {floor} valid values of {', '.join(few)}, so their drift is never judged; lower"
            " min_count or build the profile from more rows"
        )
        self.notes.append(str(ConfigIssue(pos, why, "min_count", self.label)))

    def _label_delay(self, metric: str | None) -> timedelta:
        """``label_delay:`` belongs to the quality metrics (``performance.*``)."""
        delay = self._duration("label_delay", required=False) or timedelta(0)
        n = self.get("label_delay")
        if n is not None and metric and not is_performance_metric(metric):
            self.issue(
                n.pos, "label_delay", f"only performance.* metrics wait for labels, not {metric}"
            )
        return delay

    def _group_by(self, metric: str | None) -> list[str]:
        """``group_by: [version]`` is the only grouping the store can answer: its tables have
        no host column, and score metrics are not split by version yet (the engine used to
        accept both and then ignore them or fail at every tick)."""
        group_by = self._str_list("group_by")
        n = self.get("group_by")
        for g in group_by:
            if g == "host":
                self.issue(
                    n.pos,  # type: ignore[union-attr]
                    "group_by",
                    "cannot group by 'host': the store keeps no per-host series; the only "
                    "supported grouping is group_by: [version]",
                )
            elif g != "version":
                self.issue(
                    n.pos,  # type: ignore[union-attr]
                    "group_by",
                    f"cannot group by {g!r}; the only supported grouping is group_by: [version]"
                    + _suggest(g, ("version",)),
                )
            elif metric and frame_kind(metric) in ("score", "score_hist", "outcomes"):
                what = "performance" if frame_kind(metric) == "outcomes" else "score"
                self.issue(
                    n.pos,  # type: ignore[union-attr]
                    "group_by",
                    f"{what} metrics ({metric}) cannot be grouped by version yet: remove "
                    "group_by, or write one rule per version with 'version: V'",
                )
        return group_by

    # -- field helpers -------------------------------------------------------------------
    def _required_str(self, key: str) -> str | None:
        n = self.get(key)
        if n is None:
            self.issue(self.node.pos, key, "missing required field")
            return None
        if not isinstance(n.value, str) or not n.value:
            self.issue(n.pos, key, f"must be a non-empty string, got {n.value!r}")
            return None
        return n.value

    def _version(self, n: Node | None, key: str) -> str | None:
        if n is None:
            return None
        problem = version_problem(n.value, n.text)
        if problem:
            self.issue(n.pos, key, problem)
            return None
        return str(n.value)

    def _optional_str(self, key: str) -> str | None:
        n = self.get(key)
        if n is None:
            return None
        if not isinstance(n.value, str):
            self.issue(n.pos, key, f"must be a string, got {n.value!r}")
            return None
        return n.value

    def _check_reference(self, metric: str, baseline: BaselineSpec | None) -> None:
        """Metrics judged against the file's reference profile need one that can answer:
        without it ``rules validate`` said 0 errors and every evaluation then failed."""
        if self.ctx["reference_broken"]:
            return  # the file's reference: line already says what is wrong with it
        profile = self.ctx["profile"]
        pos = self.get("metric").pos  # type: ignore[union-attr]
        add = "add 'reference: PATH' at the top of the file (modelhealth.ingestion.build_reference)"
        if metric.startswith(SCORE_DRIFT_PREFIX):
            if profile is None:
                self.issue(pos, "metric", f"{metric} compares the window's scores with the "
                           f"reference profile's, and this file names none; {add}")  # fmt: skip
            elif not profile.score_counts:
                self.issue(pos, "metric", f"{metric}: the reference profile {self.ctx['reference']}"
                           " has no score histogram; build it with the training scores "
                           "(build_reference(model, frame, score=...))")  # fmt: skip
        elif profile is None and (
            (is_drift_metric(metric) and baseline is None)
            or (baseline is not None and baseline.kind == "reference")
        ):
            self.issue(pos, "metric", f"{metric} is compared with the model's reference "
                       f"profile, and this file names none; {add}, or give the rule a "
                       "'baseline:' (e.g. {shift: 7d})")  # fmt: skip

    def _metric(self) -> str | None:
        metric = self._required_str("metric")
        if metric is not None and metric not in known_metrics():
            self.issue(
                self.get("metric").pos,
                "metric",  # type: ignore[union-attr]
                f"unknown metric {metric!r}"
                + _suggest(metric, known_metrics())
                + "; see `modelhealth rules metrics`",
            )
            return None
        return metric

    def _duration(self, key: str, required: bool) -> timedelta | None:
        n = self.get(key)
        if n is None:
            if required:
                self.issue(self.node.pos, key, "missing required field (e.g. 15m)")
            return None
        try:
            d = parse_duration(n.value)
        except (ValueError, OverflowError) as exc:
            self.issue(n.pos, key, str(exc) if isinstance(exc, ValueError) else "too long")
            return None
        if d < timedelta(0) or (required and d == timedelta(0)):
            self.issue(n.pos, key, "must be positive")
            return None
        return d

    def _severity(self) -> str:
        n = self.get("severity")
        if n is None:
            return "warning"
        if n.value not in SEVERITIES:
            self.issue(
                n.pos,
                "severity",
                f"must be one of {', '.join(SEVERITIES)}, got "
                f"{n.value!r}" + _suggest(str(n.value), SEVERITIES),
            )
            return "warning"
        return str(n.value)

    def _detector(self) -> tuple[str | None, dict[str, Any]]:
        n = self.get("detector")
        if n is None:
            self.issue(
                self.node.pos,
                "detector",
                "missing required field, e.g. {type: threshold, above: 250}",
            )
            return None, {}
        if not isinstance(n.value, dict) or "type" not in n.value:
            self.issue(n.pos, "detector", "must be a mapping with a 'type'")
            return None, {}
        dtype = n.value["type"].value
        if not isinstance(dtype, str):
            self.issue(
                n.value["type"].pos,
                "detector.type",
                f"must be one detector name; known: {', '.join(DETECTORS)}",
            )
            return None, {}
        if dtype not in DETECTORS:
            self.issue(
                n.value["type"].pos,
                "detector.type",
                f"unknown detector {dtype!r}"
                + _suggest(str(dtype), DETECTORS)
                + f"; known: {', '.join(DETECTORS)}",
            )
            return None, {}
        params = {k: v.plain() for k, v in n.value.items() if k != "type"}
        relative: list[str] = []  # path parameters resolved against the config's folder
        for key in PATH_PARAMS.get(dtype, ()):
            if isinstance(params.get(key), str) and params[key]:
                given = Path(params[key]).expanduser()  # `model: ~/models/x` is the home's
                if not given.is_absolute() and self.ctx.get("dir"):
                    given = Path(self.ctx["dir"]) / given
                    relative.append(key)
                params[key] = str(given)
        unknown = _unknown_params(DETECTORS[dtype], params)
        if unknown:
            expected = _known_params(DETECTORS[dtype])
            for key in unknown:
                close = difflib.get_close_matches(key, expected, n=1, cutoff=0.6)
                self.issue(
                    n.value[key].pos,
                    "detector",
                    f"unknown parameter {key!r} for {dtype}; expected one of "
                    f"{', '.join(expected)}" + (f"; did you mean {close[0]!r}?" if close else ""),
                )
            return None, {}
        try:
            detector = DETECTORS[dtype](**params)
            self.lookback = lookback_of(detector, self.window)
        except TypeError as exc:
            self.issue(n.pos, "detector", f"bad parameters for {dtype}: {exc}")
            return None, {}
        except (ValueError, ModelHealthError) as exc:  # e.g. a learned model that won't load
            missing = [k for k in relative if not Path(params[k]).exists()]
            hint = (
                f" ({', '.join(missing)}: a relative path is resolved against the config"
                f" file's folder, {self.ctx['dir']}; write it relative to that folder, or"
                " absolute)"
                if missing
                else ""
            )
            self.issue(n.pos, "detector", f"{exc}{hint}")
            return None, {}
        except Exception as exc:  # a detector's own bug must not stop the other rules
            self.issue(n.pos, "detector", f"cannot build {dtype}: {type(exc).__name__}: {exc}")
            return None, {}
        if self.window is not None:
            why = never_fires(dtype, detector, self.window)
            if why:
                self.issue(n.pos, "detector", why)
                return None, {}
        return dtype, params

    def _features(self) -> list[str]:
        """``all`` / ``"*"`` (every feature), one glob, or a list of names and globs."""
        n = self.get("features")
        if n is not None and n.value == "all":
            return []
        out = self._str_list("features")
        return [] if out == ["*"] else out

    def _check_profiled(self, features: list[str]) -> None:
        """Warn of a name in ``features:`` that the file's reference profile lacks (with the
        profile's closest name), or of a glob that matches none of its features: a typo
        (``amout``) watched a feature the model never logs, silently. A warning, not an
        error: a model may log features its training profile does not have."""
        known = list(self.ctx["profile"].features)
        n = self.get("features")
        items = n.value if n is not None and isinstance(n.value, list) else [n]
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
        where = f"the reference profile {self.ctx['reference']}"
        for item in items:
            name = item.value if item is not None else None
            if not isinstance(name, str) or name in ("*", "all") or name in known:
                continue
            if any(c in name for c in "*?["):
                if fnmatch.filter(known, name):
                    continue
                why = f"{name!r} matches no feature of {where}"
            else:
                why = f"{name!r} is not a feature of {where}{_suggest(name, known)}"
            issue = ConfigIssue(item.pos, f"warning: {why}; its features: {shown}", "features",
                                self.label)  # fmt: skip
            self.notes.append(str(issue))

    def _baseline(self, metric: str | None) -> BaselineSpec | None:
        return self._field(parse_baseline, self.get("baseline"), metric)

    def _schedule(self) -> str | None:
        return self._field(parse_schedule, self.get("schedule"))

    def _trigger(self) -> str | None:
        return self._field(parse_trigger, self.get("trigger"))

    def _field(self, parse: Any, node: Node | None, *args: Any) -> Any:
        """Run a field parser from :mod:`modelhealth.rules.fields`; record its error."""
        if node is None:
            return None
        try:
            return parse(node, *args)
        except FieldError as exc:
            self.issue(exc.pos, exc.field, exc.message)
            return None

    def _str_list(self, key: str) -> list[str]:
        n = self.get(key)
        if n is None:
            return []
        vals = n.value if isinstance(n.value, list) else [n]
        out = []
        for v in vals:
            if not isinstance(v.value, str):
                self.issue(v.pos, key, f"must be a list of strings, got {v.value!r}")
            else:
                out.append(v.value)
        return out

    def _labels(self) -> dict[str, str]:
        labels, issues = label_map(self.get("labels"))
        for pos, message in issues:
            self.issue(pos, "labels", message)
        return labels


def _known_params(factory: Any) -> list[str]:
    params = inspect.signature(factory).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _unknown_params(factory: Any, params: Mapping[str, Any]) -> list[str]:
    """Parameters ``factory`` does not take (none when it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return []
    known = _known_params(factory)
    return [k for k in params if k not in known]


def never_fires(dtype: str, detector: Any, window: timedelta) -> str:
    """Why ``detector`` on a rule with this ``window`` could never judge a point, or "".

    The history a rule fetches is ``ceil(lookback / window)`` complete windows before the
    newest one (``series.plan_rule``), one point each; the detectors then need:

    * zscore: ``min_points`` of them (else "warming up" forever);
    * holt_winters: a period of ``season / window`` >= 2 points and two periods of history
      (``HoltWinters.evaluate``: ``cycles`` >= 2 of whole-window seasons always hold them);
    * seasonal: a point one ``season`` before the newest, at least one window back
      (``Seasonal.past_points`` skips the newest point itself); a season shorter than the
      window finds none, or (from half a window) the previous window, which is no season.
    * both seasonal ones: a season of whole windows, so that the window a season back is
      one of the grid buckets the history holds (``evaluator.judged_end_ms``).
    """
    w = window.total_seconds()
    if w <= 0:
        return ""
    points = max(math.ceil(lookback_of(detector, window).total_seconds() / w), 1)
    win = format_duration(window)
    season = getattr(detector, "season", None)
    seasonal = getattr(detector, "complete_windows", False) and season is not None
    if seasonal and season >= window and season.total_seconds() % w:
        up = window * (season // window + 1)
        divides = timedelta(seconds=math.gcd(int(season.total_seconds()), int(w)))
        return (
            f"{dtype}: season {format_duration(season)} is not a whole number of windows of "
            f"{win}, so the same window of past seasons never lines up with the newest one;"
            f" use a season of {format_duration(up)}, or a window that divides "
            f"{format_duration(season)} (e.g. {format_duration(divides)})"
        )
    if dtype == "zscore":
        need = detector.min_points
        if points < need:
            head = (
                f"zscore would never fire: lookback {format_duration(detector.lookback)} holds "
                f"{points} window(s) of {win}, fewer than min_points {need}"
            )
            if w * need > MAX_DURATION.total_seconds():  # `window * need` could overflow
                return (
                    f"{head}, and no lookback up to the longest, {format_duration(MAX_DURATION)},"
                    f" holds that many; use min_points of at most {max(points, 2)}"
                    + (f" with a lookback of {format_duration(window * 2)}" if points < 2 else "")
                )
            return f"{head}; use lookback of at least {format_duration(window * need)}" + (
                f" or min_points of at most {points}" if points >= 2 else ""
            )
    elif dtype == "holt_winters":
        season = detector.season
        period = max(round(season.total_seconds() / w), 1)
        if period < 2:
            return (
                f"holt_winters would never fire: season {format_duration(season)} spans "
                f"{season.total_seconds() / w:.3g} window(s) of {win}, it needs at least 2 "
                f"points per season; use a season of at least {format_duration(window * 2)} "
                f"or a window of at most {format_duration(season / 2)}"
            )
    elif dtype == "seasonal" and detector.season < window:
        return (
            f"seasonal: season {format_duration(detector.season)} is shorter than the window "
            f"{win}, so each point covers more than a season and none lies one season before "
            f"the newest (it would never fire, or compare the wrong windows); use a season of "
            f"at least {win} or a window of at most {format_duration(detector.season)}"
        )
    return ""


RESERVED_LABELS = ("alertname", "severity", "metric", "model", "version", "feature")
"""Labels the engine sets itself; a config's ``labels:`` may not override them."""


def label_map(node: Node | None) -> tuple[dict[str, str], list[tuple[SourcePos, str]]]:
    """A ``labels:`` mapping of plain values, and what is wrong with it (position, message).

    A list, a nested mapping or a reserved name used to be dropped or stringified silently
    (``"{'nested': Node(...)}"`` reached alerts, ``severity`` could be overridden)."""
    if node is None:
        return {}, []
    if not isinstance(node.value, dict):
        return {}, [(node.pos, "must be a mapping of label: value, e.g. {team: risk}")]
    out: dict[str, str] = {}
    issues: list[tuple[SourcePos, str]] = []
    for key, value in node.value.items():
        if key in RESERVED_LABELS:
            issues.append((value.pos, f"{key!r} is set by the engine; use the rule's own field"))
        elif isinstance(value.value, dict | list) or value.value is None:
            issues.append((value.pos, f"{key}: must be a plain value, got {value.plain()!r}"))
        else:
            out[key] = str(value.value)
    return out, issues


def owner_list(node: Node | None) -> tuple[list[str], list[tuple[SourcePos, str]]]:
    """``owners:`` as a list of strings (one string is one owner), and what is wrong."""
    if node is None:
        return [], []
    items = node.value if isinstance(node.value, list) else [node]
    bad = [i for i in items if not isinstance(i.value, str) or not i.value]
    if bad:
        return [], [(bad[0].pos, f"must be a list of addresses or names, got {node.plain()!r}")]
    return [str(i.value) for i in items], []


def load_rules_text(text: str, file: str) -> LoadResult:
    """Validate one config file's text; returns its good rules and all issues found."""
    result = LoadResult(files=[file])
    root, issues = load_yaml(text, file)
    result.issues.extend(issues)
    if root is None:
        return result
    if not isinstance(root.value, dict):
        result.issues.append(
            ConfigIssue(root.pos, "top level must be a mapping with 'model' and 'rules'")
        )
        return result
    top = root.value
    if _is_contract(top):
        # a contract kept beside the rules that name it: not a rules file, and not ten errors
        result.files = []
        result.notes.append(
            f"{file}: looks like a data contract (columns, thresholds), not a rules file;"
            f" skipped. A rules file names it with 'contract: {Path(file).name}'"
        )
        return result
    result.issues.extend(_file_problems(root))
    for key, val in top.items():
        if key not in _FILE_KEYS:
            result.issues.append(
                ConfigIssue(val.pos, "unknown key" + _suggest(key, _FILE_KEYS), key)
            )
    model_node = top.get("model")
    if model_node is None or model_node.error or not is_valid_name(model_node.value):
        pos = model_node.pos if model_node else root.pos
        result.issues.append(
            ConfigIssue(pos, "must name the model (letters, digits, _ . -)", "model")
        )
        return result
    owners, owner_issues = owner_list(top.get("owners"))
    labels, label_issues = label_map(top.get("labels"))
    result.issues.extend(ConfigIssue(pos, msg, "owners") for pos, msg in owner_issues)
    result.issues.extend(ConfigIssue(pos, msg, "labels") for pos, msg in label_issues)
    ref_node = top.get("reference")
    reference = None
    profile = None
    if ref_node is not None and (not isinstance(ref_node.value, str) or not ref_node.value):
        result.issues.append(
            ConfigIssue(
                ref_node.pos,
                f"must be a path to a reference profile (.json), got {ref_node!r}",
                "reference",
            )
        )
    elif ref_node is not None:
        reference = str(Path(file).parent / str(ref_node.value))
        profile, why = _reference_profile(Path(reference))
        if why:
            result.issues.append(ConfigIssue(ref_node.pos, f"{reference}: {why}", "reference"))
    contract_path, contract, problem = file_contract(top.get("contract"), file, model_node.value)
    if problem is not None:
        result.issues.append(problem)
    ctx = {
        "model": model_node.value,
        "owners": owners,
        "labels": labels,
        "reference": reference,
        "profile": profile,  # None: no reference, or one that could not be used (said above)
        "reference_broken": ref_node is not None and profile is None,
        "contract_path": contract_path,
        "contract": contract,
        "dir": str(Path(file).parent),
    }
    rules_node = top.get("rules")
    if rules_node is None or not isinstance(rules_node.value, list):
        pos = rules_node.pos if rules_node else root.pos
        result.issues.append(ConfigIssue(pos, "must be a list of rules", "rules"))
        return result
    seen: dict[str, SourcePos] = {}
    for i, rule_node in enumerate(rules_node.value):
        builder = _RuleBuilder(ctx, rule_node, i)
        spec = builder.build()
        result.issues.extend(builder.issues)
        result.notes.extend(builder.notes)
        if spec is None:
            continue
        if spec.name in seen:
            result.issues.append(
                ConfigIssue(
                    spec.source,
                    f"duplicate rule name (first at line {seen[spec.name].line})",
                    "name",
                    builder.label,
                )
            )
            continue
        seen[spec.name] = spec.source
        result.rules.append(spec)
    result.issues.sort(key=lambda i: (i.pos.line, i.pos.column))
    return result


_CONTRACT_KEYS = {"contract_version", "thresholds", "special_values", "created_from"}
"""Top-level keys of a data contract (``DataContract.to_dict``) that no rules file has."""


def _is_contract(top: Mapping[str, Node]) -> bool:
    """Whether a YAML mapping is a data contract (``modelhealth contract create``)."""
    return "rules" not in top and "columns" in top and bool(_CONTRACT_KEYS & set(top))


def _file_problems(root: Node) -> list[ConfigIssue]:
    """Unreadable values and repeated keys outside the rules (each rule reports its own)."""
    out = [
        ConfigIssue(pos, message, path)
        for pos, path, message, _ in problems(Node({}, root.pos, dupes=root.dupes))
    ]
    for key, val in root.value.items():
        if key == "rules" and isinstance(val.value, list):
            out.extend(ConfigIssue(p, m, f) for p, f, m, _ in problems(val, key) if f == key)
        else:
            out.extend(ConfigIssue(p, m, f) for p, f, m, _ in problems(val, key))
    return out


def _reference_profile(path: Path) -> tuple[ModelReference | None, str]:
    """The reference profile at ``path``, or why it cannot be used (checked when the config
    is loaded, so ``rules validate`` says so instead of the first evaluation crashing)."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, ...: OSError from a stat
        return None, f"cannot be read ({exc.strerror or exc}); expected a path to a .json profile"
    if not found:
        why = "is a folder" if path.is_dir() else "no such file"
        return None, f"{why}; build one with modelhealth.ingestion.build_reference"
    loaded = load_reference(path)
    return (None, loaded) if isinstance(loaded, str) else (loaded, "")


def load_rules(paths: Iterable[str | Path]) -> LoadResult:
    """Load every ``*.yaml``/``*.yml`` file under the given files/folders, isolating errors."""
    total = LoadResult()
    paths = list(paths)
    for folder in (Path(p) for p in paths):
        if folder.is_dir() and not rule_files([folder]):
            # `rules validate` said "0 error(s)" (exit 0) for the wrong folder, or files
            # named *.yaml.txt, while `eval` of it exits 1 with "no rule loaded"
            total.issues.append(
                ConfigIssue(SourcePos(str(folder)), "no rule files (*.yaml, *.yml) found")
            )
    first: dict[tuple[str, str], SourcePos] = {}
    for path in rule_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            total.issues.append(ConfigIssue(SourcePos(str(path)), f"cannot read: {exc}"))
            continue
        except UnicodeDecodeError as exc:
            total.issues.append(_not_utf8(str(path), exc))
            continue
        try:
            one = load_rules_text(text, str(path))
        except Exception as exc:  # a loader bug on one file must not stop the others
            total.issues.append(
                ConfigIssue(SourcePos(str(path)), f"cannot load: {type(exc).__name__}: {exc}")
            )
            continue
        for spec in one.rules:
            at = first.setdefault((spec.model, spec.name), spec.source)
            if at is not spec.source:
                # one alert identity per (model, name): two rules sharing it would resolve and
                # re-fire each other's alerts
                total.issues.append(
                    ConfigIssue(
                        spec.source,
                        f"rule {spec.name!r} of model {spec.model!r} is already defined at"
                        f" {at}; rule names must be unique per model",
                        "name",
                    )
                )
            else:
                total.rules.append(spec)
        total.issues.extend(one.issues)
        total.notes.extend(one.notes)
        total.files.extend(one.files)
    return total


def _not_utf8(file: str, exc: UnicodeDecodeError) -> ConfigIssue:
    """The issue of a file that is not UTF-8, at the line and column of its first bad byte."""
    line, column = undecodable_at(exc)
    return ConfigIssue(
        SourcePos(file),
        f"not UTF-8 text (byte {exc.start}): {exc.reason} {exc.object[exc.start]:#04x}"
        f" at line {line}, column {column}; save the file as UTF-8",
    )


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named or found below the folders named, each once: a file given twice
    (or inside a folder also given) reported every rule as a duplicate of itself."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        found = (
            sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml")) if p.is_dir() else [p]
        )
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


__all__ = [
    "FEATURE_METRICS",
    "MODEL_METRICS",
    "LoadResult",
    "RuleSpec",
    "load_rules",
    "load_rules_text",
    "rule_files",
]
