"""From a rule and a tick time to each instance's metric Series (history + newest point).

This is the core of the engine's data flow. For a rule with window ``W`` evaluated at ``t``:

* the newest point is the metric over ``[t - W, t)`` (timestamp ``t - W``);
* its history is the metric over complete ``W``-long buckets before that window, back as far
  as the detector's ``lookback`` — one bucketed store query (``step_ms = W``) that covers every
  feature of the model, kept across ticks until a new bucket completes;
* the baseline (``baseline:`` in YAML) is the same metric over another window: the same window
  shifted back (e.g. last week), a fixed date range, another model version (dark canary), or —
  for drift — the training reference profile. Drift metrics consume the baseline inside the
  metric (current histogram vs baseline histogram, per history bucket too); other metrics pass
  it to the detector as a ``baseline`` Series.

For ``count``, ``qps`` and ``performance.labels`` a window without requests is 0 (see
:mod:`.silence`), but only while the model (the version, for a rule per version) was live: a
baseline window that starts before the store's first data of it has no value (the instance
is not judged, and the tick reports why and from when it will be), and history buckets that
start before that first data are left out (the first holds only part of a bucket's traffic).

Drift metrics judge a window only when it and its baseline hold ``min_count`` valid values
(the rule's ``min_count:``, else the metric's default, ``metrics.default_min_count``): the
distances read sampling noise as drift on small windows. A smaller current window keeps its
instance, not judged, with the reason the tick reports; a smaller history bucket is left out.

Contract metrics (``contract.*``, see :mod:`modelhealth.rules.contract`) are the exception:
the current window's summary and histogram frames, validated against the file's data
contract, with no history.

Backtests call the same functions with past ``t``, so live and replayed verdicts are identical.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.clock import from_epoch_ms
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.contract import contract_instances
from modelhealth.rules.drift import drift_values, enough, reference_rows, too_few
from modelhealth.rules.durations import format_duration
from modelhealth.rules.frames import FrameKey, FrameSource
from modelhealth.rules.metrics import (
    SCORE_DRIFT_PREFIX,
    effective_min_count,
    frame_kind,
    instance_keys,
    is_contract_metric,
    is_drift_metric,
    metric_frame,
)
from modelhealth.rules.silence import ZERO_WHEN_EMPTY, with_zeros, zero_filled_history
from modelhealth.types import Series


@dataclass(frozen=True)
class BaselineSpec:
    """What a rule compares against (YAML ``baseline:``); see module docstring."""

    kind: str  # "reference" | "shifted" | "window" | "version"
    offset: timedelta | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.kind == "shifted":
            return f"same window {self.offset} earlier"
        if self.kind == "window":
            return f"fixed window [{self.start_ms}, {self.end_ms}) ms"
        if self.kind == "version":
            return f"version {self.version}"
        return "training reference"


@dataclass(frozen=True)
class RuleQuery:
    """The part of a rule that decides what to fetch (RuleSpec satisfies it)."""

    model: str
    metric: str
    window: timedelta
    group_by: tuple[str, ...] = ()
    version: str | None = None
    features: tuple[str, ...] = ()
    baseline: BaselineSpec | None = None
    contract: Any = None  # DataContract for contract.* metrics
    contract_path: str | None = None
    label_delay: timedelta = timedelta(0)  # performance.* metrics: judge a window this old
    min_count: int | None = None  # drift metrics: values a window needs (None: the default)


@dataclass(frozen=True)
class RulePlan:
    """The frames one rule needs at one tick."""

    current: FrameKey
    history: FrameKey | None = None
    baseline: FrameKey | None = None
    baseline_history: FrameKey | None = None
    companion: FrameKey | None = None  # contract metrics: the window's histograms

    def keys(self) -> list[FrameKey]:
        frames = (self.current, self.history, self.baseline, self.baseline_history, self.companion)
        return [k for k in frames if k]


@dataclass(frozen=True)
class Instance:
    """One label set of a rule with the series its detector judges."""

    labels: Mapping[str, str]
    series: Series
    baseline: Series | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)  # merged into the alert's
    baseline_missing: str | None = None
    """Why ``baseline`` holds no value although the window may simply have had no requests
    (it starts before the store's first data of the model): the reason the tick reports."""
    not_judged: str | None = None
    """Why the instance, with data in the window, has no value this tick (a drift window
    with fewer values than ``min_count``): it is not judged, and the tick reports this."""


def plan_rule(
    rule: RuleQuery, lookback: timedelta, end_ms: int, reference: ModelReference | None
) -> RulePlan:
    kind = frame_kind(rule.metric)
    w = int(rule.window.total_seconds() * 1000)
    by_version = "version" in rule.group_by
    edges = tuple(reference.score_edges) if kind == "score_hist" and reference else ()
    if kind == "outcomes":
        return _outcome_plan(rule, lookback, end_ms, w)
    cur = FrameKey(kind, end_ms - w, end_ms, None, by_version, rule.version, edges=edges)
    if is_contract_metric(rule.metric):
        if lookback > timedelta(0):
            raise ValueError(
                f"{rule.metric} has no history; use a detector without lookback (threshold)"
            )
        return RulePlan(
            cur, companion=FrameKey("hist", cur.start_ms, end_ms, None, by_version, rule.version)
        )
    hist = None
    if lookback > timedelta(0) and kind != "score_hist":
        h_end = ((end_ms - w) // w) * w
        n = max(math.ceil(lookback.total_seconds() * 1000 / w), 1)
        hist = FrameKey(kind, h_end - n * w, h_end, w, by_version, rule.version, stable=True)
    b = rule.baseline
    if b is None or b.kind == "reference":
        return RulePlan(cur, hist)
    drift = is_drift_metric(rule.metric)
    if b.kind == "shifted" and b.offset is not None:
        off = int(b.offset.total_seconds() * 1000)
        base = FrameKey(kind, cur.start_ms - off, cur.end_ms - off, None, by_version, rule.version)
        bh = None
        if drift and hist is not None:
            bh = FrameKey(
                kind,
                hist.start_ms - off,
                hist.end_ms - off,
                w,
                by_version,
                rule.version,
                stable=True,
            )
        return RulePlan(cur, hist, base, bh)
    if b.kind == "window" and b.start_ms is not None and b.end_ms is not None:
        return RulePlan(
            cur, hist, FrameKey(kind, b.start_ms, b.end_ms, version=rule.version, stable=True)
        )
    if b.kind == "version":
        base = FrameKey(kind, cur.start_ms, cur.end_ms, None, False, b.version)
        bh = None
        if drift and hist is not None:
            bh = FrameKey(kind, hist.start_ms, hist.end_ms, w, False, b.version, stable=True)
        return RulePlan(cur, hist, base, bh)
    raise ValueError(f"malformed baseline {b!r}")


def _outcome_plan(rule: RuleQuery, lookback: timedelta, end_ms: int, w: int) -> RulePlan:
    """Quality metrics judge the window that ended ``label_delay`` before the tick, with the
    labels that arrived before the tick (history buckets too: not cached across ticks, as
    their labels keep arriving)."""
    until = end_ms
    end = end_ms - int(rule.label_delay.total_seconds() * 1000)
    cur = FrameKey("outcomes", end - w, end, None, False, rule.version, labels_until_ms=until)
    hist = None
    if lookback > timedelta(0):
        h_end = ((end - w) // w) * w
        n = max(math.ceil(lookback.total_seconds() * 1000 / w), 1)
        hist = FrameKey("outcomes", h_end - n * w, h_end, w, False, rule.version,
                        labels_until_ms=until)  # fmt: skip
    b = rule.baseline
    if b is not None and b.kind == "shifted" and b.offset is not None:
        off = int(b.offset.total_seconds() * 1000)
        base = FrameKey("outcomes", cur.start_ms - off, cur.end_ms - off, None, False,
                        rule.version, labels_until_ms=until)  # fmt: skip
        return RulePlan(cur, hist, base)
    if b is not None and b.kind == "window" and b.start_ms is not None and b.end_ms is not None:
        base = FrameKey(
            "outcomes", b.start_ms, b.end_ms, version=rule.version, labels_until_ms=until
        )
        return RulePlan(cur, hist, base)
    if b is not None and b.kind == "version":
        base = FrameKey("outcomes", cur.start_ms, cur.end_ms, None, False, b.version,
                        labels_until_ms=until)  # fmt: skip
        return RulePlan(cur, hist, base)
    return RulePlan(cur, hist)


def instances(
    rule: RuleQuery,
    plan: RulePlan,
    source: FrameSource,
    reference: ModelReference | None,
) -> list[Instance]:
    """Every instance of the rule with a value in the current window, with its series
    (for ``count`` and ``qps`` a silent window's value is 0, see :mod:`.silence`).

    Computed once per tick for ALL features of the model and shared by every rule with the
    same metric, frames and baseline: a model's 50 per-feature rules cost one vectorised
    computation; each rule then only picks its features."""
    memo_key = (
        rule.model,
        rule.metric,
        plan,
        rule.baseline,
        rule.version,
        rule.group_by,
        getattr(rule, "contract_path", None),
        min_count_of(rule),
    )
    every = source.memo.get(memo_key)
    if every is None:
        every = _all_instances(rule, plan, source, reference)
        source.memo[memo_key] = every
    if not rule.features:
        return every
    return [i for i in every if _selected(i.labels.get("feature", ""), rule.features)]


def _selected(feature: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(feature, p) for p in patterns)


def min_count_of(rule: RuleQuery) -> int:
    """The valid values a window of ``rule`` must hold to be judged (0: any)."""
    return effective_min_count(rule.metric, getattr(rule, "min_count", None))


def _all_instances(
    rule: RuleQuery,
    plan: RulePlan,
    source: FrameSource,
    reference: ModelReference | None,
) -> list[Instance]:
    if is_contract_metric(rule.metric) and plan.companion is not None:
        return contract_instances(rule, plan.current, plan.companion, source)
    w = plan.current.end_ms - plan.current.start_ms
    cur = _values(rule, plan.current, plan.baseline, source, reference, w)
    hist = None
    if plan.history is not None and (len(cur) or rule.metric in ZERO_WHEN_EMPTY):
        hist = _values(
            rule, plan.history, plan.baseline_history or plan.baseline, source, reference, w
        )
    cur, hist = with_zeros(rule.metric, cur, hist, plan.current, plan.history)
    if cur.empty:
        return []
    floor = min_count_of(rule)
    if floor and hist is not None and "n" in hist.columns:
        hist = hist[enough(hist, floor)]  # a noisy bucket is no point of the history
    unjudged = _too_few(rule, plan, cur, floor)
    if rule.metric in ZERO_WHEN_EMPTY and hist is not None and len(hist):
        assert plan.history is not None
        hist = since_first_data(hist, rule.model, plan.history, source)
    base_vals = None
    if plan.baseline is not None and not is_drift_metric(rule.metric):
        frame = _profiled(rule.metric, source.get(plan.baseline, rule.model), reference)
        base_vals = metric_frame(rule.metric, frame, plan.baseline.end_ms - plan.baseline.start_ms)
    elif rule.baseline is not None and rule.baseline.kind == "reference":
        base_vals = _reference_values(rule.metric, reference)
    return _assemble(rule, plan, cur, hist, base_vals, source, unjudged)


def _too_few(
    rule: RuleQuery, plan: RulePlan, cur: pd.DataFrame, floor: int
) -> dict[tuple[str, ...], str]:
    """Why each drift instance of ``cur`` whose window or baseline holds fewer than
    ``floor`` values is not judged, by its key values (version, feature) as text."""
    if not floor or "n" not in cur.columns:
        return {}
    short = cur[~enough(cur, floor)]
    if short.empty:
        return {}
    keys = [k for k in ("version", "feature") if k in cur.columns]
    b = rule.baseline
    if b is None or b.kind == "reference" or plan.baseline is None:
        words = "the reference profile"
    else:
        words = f"the baseline ({_baseline_words(b, plan.baseline)})"
    default = getattr(rule, "min_count", None) is None
    why = f" (the default for {rule.metric} rules)" if default else ""
    rows = zip(*(short[k].astype(str) for k in keys), short["n"], short["baseline_n"], strict=True)
    return {tuple(row[: len(keys)]): too_few(row[-2], row[-1], floor, words) + why for row in rows}


def _profiled(metric: str, frame: pd.DataFrame, reference: ModelReference | None) -> pd.DataFrame:
    """The histogram rows of features the reference profiles (others unchanged).

    A feature without a profile has one bin, ``__other__``, however many values it takes:
    ``feature.uniform_share`` read 1 and ``feature.distinct`` 1 for a feature of seven
    strings, so a constant-feature rule paged on it. Not judged instead, as drift is."""
    if frame_kind(metric) != "hist" or "feature" not in frame.columns or frame.empty:
        return frame
    known = list(reference.features) if reference is not None else []
    return frame[frame["feature"].isin(known)]


def _values(
    rule: RuleQuery,
    key: FrameKey,
    base_key: FrameKey | None,
    source: FrameSource,
    reference: ModelReference | None,
    span_ms: int,
) -> pd.DataFrame:
    frame = source.get(key, rule.model)
    if rule.metric.startswith(SCORE_DRIFT_PREFIX):
        return _score_drift(rule.metric, frame, reference)
    if not is_drift_metric(rule.metric):
        return metric_frame(rule.metric, _profiled(rule.metric, frame, reference), span_ms)
    name = rule.metric.rsplit(".", 1)[1]
    keys = instance_keys(frame)
    if base_key is None:
        if reference is None:
            raise LookupError(
                f"model {rule.model!r} has no reference profile for drift; set 'reference:' "
                "in its config or give the rule a 'baseline:'"
            )
        return drift_values(name, frame, reference_rows(reference), keys, ["feature"], reference)
    base = source.get(base_key, rule.model)
    b = rule.baseline
    match = ["feature"]
    if b is not None and b.kind == "shifted" and b.offset is not None:
        match = [k for k in keys if k != "ts"] + (["ts"] if "ts" in keys else [])
        if "ts" in base.columns:
            base = base.assign(ts=base["ts"] + int(b.offset.total_seconds() * 1000))
    elif b is not None and b.kind == "version" and "ts" in keys:
        match = ["ts", "feature"]
    return drift_values(name, frame, base, keys, match, reference)


def _score_drift(metric: str, frame: pd.DataFrame, ref: ModelReference | None) -> pd.DataFrame:
    if ref is None or not ref.score_counts:
        raise LookupError("score drift needs a reference profile with a score histogram")
    cur = frame.assign(feature="score")
    base = pd.DataFrame(
        {
            "feature": "score",
            "bin": np.arange(len(ref.score_counts)),
            "count": np.asarray(ref.score_counts, dtype=np.float64),
        }
    )
    out = drift_values(metric.rsplit(".", 1)[1], cur, base, ["feature"], ["feature"])
    return out.drop(columns=["feature"])


def _reference_values(metric: str, ref: ModelReference | None) -> pd.DataFrame:
    if ref is None:
        raise LookupError(f"baseline 'reference' for {metric} needs the model's reference profile")
    attr = {"feature.null_rate": "null_rate", "feature.special_rate": "special_rate"}.get(metric)
    if attr is None:
        raise ValueError(f"the reference profile has no value of {metric}")
    return pd.DataFrame(
        {"feature": list(ref.features), "value": [getattr(f, attr) for f in ref.features.values()]}
    )


def _assemble(
    rule: RuleQuery,
    plan: RulePlan,
    cur: pd.DataFrame,
    hist: pd.DataFrame | None,
    base_vals: pd.DataFrame | None,
    source: FrameSource,
    unjudged: Mapping[tuple[str, ...], str] | None = None,
) -> list[Instance]:
    keys = [k for k in ("version", "feature") if k in cur.columns]
    cur = cur.assign(ts=plan.current.start_ms)
    frames = [cur]
    if hist is not None and len(hist):
        frames.append(hist[hist["ts"] < plan.current.start_ms])
    allv = pd.concat(frames, ignore_index=True) if len(frames) > 1 else cur
    if keys:
        allv = allv.merge(cur[keys].drop_duplicates(), on=keys, how="inner")
        allv = allv.sort_values([*keys, "ts"], kind="stable")
        codes = allv.groupby(keys, sort=False).ngroup().to_numpy()
    else:
        allv = allv.sort_values("ts", kind="stable")
        codes = np.zeros(len(allv), dtype=np.int64)
    ts = allv["ts"].to_numpy(dtype=np.int64) // 1000
    vs = allv["value"].to_numpy(dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds = np.r_[starts, len(codes)]
    key_rows = allv[keys].to_numpy() if keys else None
    base_map = _baseline_map(base_vals, keys, rule)
    out = []
    for i in range(len(starts)):
        lo, hi = bounds[i], bounds[i + 1]
        labels = {"model": rule.model}
        if rule.version is not None:
            labels["version"] = rule.version
        values = dict(zip(keys, key_rows[lo], strict=True)) if key_rows is not None else {}
        labels.update({k: str(v) for k, v in values.items()})
        baseline = None
        missing = None
        if base_map is not None:
            bv = base_map.get(tuple(str(values[k]) for k in _match_keys(keys, rule)))
            if rule.metric in ZERO_WHEN_EMPTY and plan.baseline is not None:
                version = str(values["version"]) if "version" in values else None
                missing = _baseline_missing(
                    rule, plan, plan.baseline, version, source, has_rows=bv is not None
                )
                if missing is not None:
                    bv = None  # the store has nothing that old: not a window without requests
                elif bv is None:
                    bv = 0.0  # no requests in the baseline window: 0 of them, not "no value"
            baseline = Series(np.array([ts[hi - 1]]), np.array([bv if bv is not None else np.nan]))
        short = unjudged.get(tuple(str(values[k]) for k in keys)) if unjudged else None
        out.append(
            Instance(
                labels,
                Series(ts[lo:hi], vs[lo:hi]),
                baseline,
                baseline_missing=missing,
                not_judged=short,
            )
        )
    return out


FIRST_DATA = "first-data"
"""``FrameSource.memo`` key of ``{(model, version or None): first inference ms or None}``
(the evaluator keeps it across ticks, None answers too, see ``Evaluator._recall_first_data``)."""
ASKED_THIS_TICK = "first-data-asked"
"""``FrameSource.memo`` key of the ``(model, version)`` pairs asked this tick (a source
serves one tick): a remembered None contradicted by rows is asked again once, not per call."""


def first_data_ms(
    source: FrameSource, model: str, version: str | None = None, *, has_rows: bool = False
) -> int | None:
    """The time of the store's first inference of ``model`` (of its ``version`` if given),
    None when it has none: one ``time_range`` query, remembered in ``source.memo``.

    ``has_rows``: the caller read rows of it from the store, so a None remembered from an
    earlier tick is stale (the model started sending since) and is asked again: trusted, it
    kept a new model's partial first bucket in a history."""
    known = source.memo.setdefault(FIRST_DATA, {})
    asked = source.memo.setdefault(ASKED_THIS_TICK, set())
    key = (model, version)
    if key not in known or (has_rows and known[key] is None and key not in asked):
        store = source.store
        if version is None:
            span = source._run(lambda: store.time_range(model))
        else:
            span = source._run(lambda: store.time_range(model, version=version))
        known[key] = None if span is None else int(span[0])
        asked.add(key)
    first: int | None = known[key]
    return first


def _scope_version(key: FrameKey, instance_version: str | None) -> str | None:
    """The version whose rows ``key`` reads for an instance (None: the whole model)."""
    if key.version is not None:
        return key.version
    return instance_version if key.by_version else None


def since_first_data(
    hist: pd.DataFrame, model: str, key: FrameKey, source: FrameSource
) -> pd.DataFrame:
    """``hist`` (a bucketed metric frame read with ``key``) without the buckets that start
    before the store's first data of their instance (the version, when ``key`` splits by
    version): the model went live inside the first, so it holds part of a bucket's requests
    (a minute of a five-minute bucket read as a fifth of the traffic, and a seasonal rule
    compared the same bucket a day later with it). Every instance in ``hist`` has rows in
    the store (zeros are only filled in after an instance's first bucket with data), so a
    remembered "no data" is asked again."""
    if "version" in hist.columns and key.by_version:
        firsts = {
            v: first_data_ms(source, model, _scope_version(key, str(v)), has_rows=True)
            for v in hist["version"].unique()
        }
        limit = hist["version"].map({v: -1 if f is None else f for v, f in firsts.items()})
        return hist[hist["ts"].to_numpy() >= limit.to_numpy(dtype=np.int64)]
    only = first_data_ms(source, model, _scope_version(key, None), has_rows=True)
    return hist if only is None else hist[hist["ts"] >= only]


def history_as_judged(
    metric: str, hist: pd.DataFrame, key: FrameKey, model: str, source: FrameSource
) -> pd.DataFrame:
    """A bucketed metric frame of ``model`` read with ``key`` as the rules engine hands it
    to a detector as history: for ``count``-like metrics (:data:`ZERO_WHEN_EMPTY`) with 0
    in silent buckets after each instance's first and without buckets that start before
    its first data (filled first, then cut, as ``_all_instances`` does, so a silence right
    after the first data stays 0 and nothing before it comes back). The anomaly export and
    the dashboard's learned band use it, so they see the series the scheduler judges."""
    if metric not in ZERO_WHEN_EMPTY or hist.empty:
        return hist
    filled = zero_filled_history(metric, hist, key)
    return since_first_data(hist if filled is None else filled, model, key, source)


def _baseline_missing(
    rule: RuleQuery,
    plan: RulePlan,
    key: FrameKey,
    version: str | None,
    source: FrameSource,
    has_rows: bool = False,
) -> str | None:
    """Why the baseline window ``key`` of an instance (of ``version``) has no value for a
    metric that reads "no requests" as 0, or None when it has one: it starts before the
    store's first data of the model (of the version it reads), so a window without rows
    means "not live yet", or "older than anything kept", not "no requests"; and one that
    starts in the middle of it holds only part of a window's requests. ``has_rows``: the
    baseline window had rows of it, so a remembered "no data" is stale (``first_data_ms``)."""
    v = _scope_version(key, version)
    first = first_data_ms(source, rule.model, v, has_rows=has_rows)
    if first is not None and first <= key.start_ms:
        return None
    who = f"model {rule.model}" + (f" version {v}" if v is not None else "")
    if first is None:
        return f"baseline not available: {who} has no data in the store"
    since = (
        f"the baseline window ({_baseline_words(rule.baseline, key)}) starts at "
        f"{_iso(key.start_ms)}, before the first data of {who} in the store ({_iso(first)})"
    )
    if rule.baseline is not None and rule.baseline.kind == "window":
        return (
            f"baseline not available: {since}; a fixed window gets no older data: move its "
            f"'from:' to {_iso(first)} or later"
        )
    judged_from = -(-(first + plan.current.end_ms - key.start_ms) // 1000) * 1000  # ceil to 1 s
    return f"baseline not available yet: {since}; judged from {_iso(judged_from)} on"


def _baseline_words(b: BaselineSpec | None, key: FrameKey) -> str:
    if b is not None and b.kind == "shifted" and b.offset is not None:
        return f"the same window {format_duration(b.offset)} earlier"
    if b is not None and b.kind == "version":
        return f"the same window of version {b.version}"
    return f"{_iso(key.start_ms)} to {_iso(key.end_ms)}"


def _iso(ms: int) -> str:
    return from_epoch_ms(ms).isoformat(timespec="seconds")


def _match_keys(keys: Sequence[str], rule: RuleQuery) -> list[str]:
    if rule.baseline is not None and rule.baseline.kind in ("version", "reference", "window"):
        return [k for k in keys if k != "version"]
    return list(keys)


def _baseline_map(
    base_vals: pd.DataFrame | None, keys: Sequence[str], rule: RuleQuery
) -> dict[tuple[str, ...], float] | None:
    if base_vals is None:
        return None
    mk = _match_keys(keys, rule)
    if any(k not in base_vals.columns for k in mk):
        return {}
    if not mk:
        return {(): float(base_vals["value"].iloc[0])} if len(base_vals) else {}
    cols = [base_vals[k].astype(str) for k in mk]
    return {tuple(t): float(v) for *t, v in zip(*cols, base_vals["value"], strict=True)}
