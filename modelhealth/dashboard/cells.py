"""How many values each drift heatmap cell was computed from, and which cells are too few.

The drift distances read sampling noise as drift on small samples: drawn from the reference
itself, a bucket of 20 values reads PSI > 0.2 most of the time (``rules.metrics``). The drift
rules therefore leave a window with fewer than ``min_count`` values on either side unjudged;
the heatmap coloured such a bucket (a quiet night, the minutes after an outage) like any
other, as a red cell no rule would ever fire on. Cells below the ``min_count`` of the
model's own drift rules on the metric (their default when none sets it) are drawn as "too
few rows" instead, and not counted as drifted.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from modelhealth.dashboard.text import plain
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.drift import too_few
from modelhealth.rules.metrics import FEATURE_DRIFT_PREFIX, default_min_count, effective_min_count


def drift_rules_of(rules: Iterable[RuleSpec], model: str | None, metric: str) -> list[RuleSpec]:
    """The rules (as loaded from ``--rules``) judging ``model``'s features by ``metric``
    (``feature.drift.<metric>``)."""
    name = FEATURE_DRIFT_PREFIX + metric
    return [r for r in rules if r.model == model and r.metric == name]


def min_count_of(metric: str, rules: Iterable[RuleSpec] = (), model: str | None = None) -> int:
    """The ``min_count`` the heatmap of ``model``'s ``metric`` greys cells below: the one its
    drift rules on ``metric`` judge with (their own ``min_count:``, else the metric's
    default), the smallest when they differ; without such a rule, the default a drift rule
    on ``metric`` judges with (0 for the chi-square metrics, whose verdict already accounts
    for the sample size).

    The default alone greyed cells a rule with ``min_count: 20`` judges (and coloured cells
    a rule with ``min_count: 500`` never would). The smallest, because a cell some rule of
    the model judges is not "too few rows"."""
    mine = drift_rules_of(rules, model, metric)
    floors = [effective_min_count(r.metric, r.min_count) for r in mine]
    return min(floors, default=default_min_count(FEATURE_DRIFT_PREFIX + metric))


def min_count_source(metric: str, rules: Iterable[RuleSpec] = (), model: str | None = None) -> str:
    """Where :func:`min_count_of` took its number from, for the heatmap's caption: "the
    drift rules' default min_count", "the min_count of rule X", or, when the model's rules
    on ``metric`` differ, the smallest of theirs with each rule's own."""
    mine = drift_rules_of(rules, model, metric)
    floors = {r.name: effective_min_count(r.metric, r.min_count) for r in mine}
    if not floors:
        return "the drift rules' default min_count"
    if len(set(floors.values())) == 1:
        own = "" if any(r.min_count is not None for r in mine) else "default "
        rule = "rule" if len(floors) == 1 else "rules"
        return f"the {own}min_count of {rule} {', '.join(plain(n) for n in sorted(floors))}"
    each = ", ".join(f"{plain(n)}: {v}" for n, v in sorted(floors.items(), key=lambda f: f[::-1]))
    return f"the smallest min_count of the model's {metric} drift rules ({each})"


def with_sizes(
    series: pd.DataFrame,
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    baseline_offset_ms: int | None = None,
) -> pd.DataFrame:
    """``series`` (``ts feature value drifted``) with ``n`` and ``baseline_n``: the values
    each cell's bucket and its baseline hold, summed over the histograms the drift was
    computed from (as ``rules.drift.drift_values`` counts them).

    ``baseline`` is one whole-window histogram (``feature bin count``), or bucketed rows
    matched to bucket ``ts - baseline_offset_ms`` (a shifted baseline)."""
    if series.empty:
        return series.assign(n=pd.Series(dtype="float64"), baseline_n=pd.Series(dtype="float64"))
    n = current.groupby(["ts", "feature"], as_index=False)["count"].sum()
    if baseline_offset_ms is not None:
        base = baseline.assign(ts=baseline["ts"] + int(baseline_offset_ms))
        on = ["ts", "feature"]
    else:
        base, on = baseline, ["feature"]
    b = base.groupby(on, as_index=False)["count"].sum()
    out = series.merge(n.rename(columns={"count": "n"}), on=["ts", "feature"], how="left")
    out = out.merge(b.rename(columns={"count": "baseline_n"}), on=on, how="left")
    out[["n", "baseline_n"]] = out[["n", "baseline_n"]].astype("float64").fillna(0.0)
    out.attrs.update(series.attrs)
    return out


def mark_too_few(series: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """``series`` with ``few`` (fewer than ``min_count`` values on either side) and ``why``
    (the rules' own wording of it, for the cell's hover text); a few cell is not drifted."""
    out = series.copy()
    if "n" not in out or out.empty:
        out["few"], out["why"] = False, ""
        return out
    out["why"] = [
        too_few(n, b, min_count, "the baseline")
        for n, b in zip(out["n"], out["baseline_n"], strict=True)
    ]
    out["few"] = out["why"] != ""
    out["drifted"] = out["drifted"].astype(bool) & ~out["few"]
    return out
