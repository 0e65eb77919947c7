"""How many values each drift heatmap cell was computed from, and which cells are too few.

The drift distances read sampling noise as drift on small samples: drawn from the reference
itself, a bucket of 20 values reads PSI > 0.2 most of the time (``rules.metrics``). The drift
rules therefore leave a window with fewer than ``min_count`` values on either side unjudged;
the heatmap coloured such a bucket (a quiet night, the minutes after an outage) like any
other, as a red cell no rule would ever fire on. Cells below the ``min_count`` of the
model's own drift rules on the metric that judge the cell's feature and version (their
default when none sets it, :func:`floor_of`) are drawn as "too few rows" instead, and not
counted as drifted.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

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


def judges(rule: RuleSpec, feature: str | None, version: str | None) -> bool:
    """Whether ``rule`` judges the drift of ``feature`` in the page's ``version`` (None: all
    versions together), as the rules engine selects its instances (``rules.series``):
    ``features:`` globs matched case-sensitively (none: every feature), and ``version: V``
    reads only V's rows. A rule without ``version:`` judges every version's rows (together,
    or each apart with ``group_by: [version]``). ``feature`` None stands for a feature no
    ``features:`` list names.

    The heatmap took every drift rule of the model: a ``min_count: 500`` rule limited to
    feature ``a`` (or to version v3) greyed the cells of feature ``b`` (or of v2) too."""
    if rule.version is not None and rule.version != version:
        return False
    if not rule.features:
        return True
    return feature is not None and any(fnmatch.fnmatchcase(feature, p) for p in rule.features)


@dataclass(frozen=True)
class Floor:
    """The ``min_count`` a heatmap cell is judged by, and the rules it comes from.

    ``rules`` holds each judging rule's (name, min_count), smallest first; ``own`` says
    whether any of them sets ``min_count:`` itself (else they all judge with the default)."""

    count: int
    metric: str
    rules: tuple[tuple[str, int], ...] = ()
    own: bool = False

    def source(self, name: Callable[[object], str] = plain) -> str:
        """Where :attr:`count` comes from, for a caption (``name`` escapes the rule names
        for markdown; ``str`` for a chart's hover text)."""
        if not self.rules:
            return "the drift rules' default min_count"
        names = sorted(n for n, _ in self.rules)
        if len({v for _, v in self.rules}) == 1:
            own = "" if self.own else "default "
            rule = "rule" if len(names) == 1 else "rules"
            return f"the {own}min_count of {rule} {', '.join(name(n) for n in names)}"
        each = ", ".join(f"{name(n)}: {v}" for n, v in self.rules)
        return f"the smallest min_count of the model's {self.metric} drift rules ({each})"


def floor_of(
    metric: str,
    rules: Iterable[RuleSpec] = (),
    model: str | None = None,
    feature: str | None = None,
    version: str | None = None,
) -> Floor:
    """The ``min_count`` the heatmap of ``model``'s ``metric`` greys ``feature``'s cells
    below, in the page's ``version``: the one the drift rules judging that cell
    (:func:`judges`) use (their own ``min_count:``, else the metric's default), the smallest
    when they differ; without such a rule, the default a drift rule on ``metric`` judges
    with (0 for the chi-square metrics, whose verdict already accounts for the sample size).

    The smallest, because a cell some rule judges is not "too few rows". The one place the
    floors are collected: the number and the caption's words come from the same rules."""
    mine = [r for r in drift_rules_of(rules, model, metric) if judges(r, feature, version)]
    each = sorted(((r.name, effective_min_count(r.metric, r.min_count)) for r in mine),
                  key=lambda f: (f[1], f[0]))  # fmt: skip
    if not each:
        return Floor(default_min_count(FEATURE_DRIFT_PREFIX + metric), metric)
    own = any(r.min_count is not None for r in mine)
    return Floor(each[0][1], metric, tuple(each), own)


def floors_of(
    metric: str,
    features: Iterable[str],
    rules: Iterable[RuleSpec] = (),
    model: str | None = None,
    version: str | None = None,
) -> dict[str, Floor]:
    """:func:`floor_of` of each of ``features`` (the heatmap's rows)."""
    mine = drift_rules_of(rules, model, metric)
    return {str(f): floor_of(metric, mine, model, str(f), version) for f in features}


def min_count_of(metric: str, rules: Iterable[RuleSpec] = (), model: str | None = None) -> int:
    """:func:`floor_of`'s number for a feature no rule's ``features:`` names, all versions."""
    return floor_of(metric, rules, model).count


def min_count_source(metric: str, rules: Iterable[RuleSpec] = (), model: str | None = None) -> str:
    """:func:`floor_of`'s source for a feature no rule's ``features:`` names, all versions."""
    return floor_of(metric, rules, model).source()


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


def mark_too_few(series: pd.DataFrame, min_count: int | Mapping[str, Floor]) -> pd.DataFrame:
    """``series`` with ``few`` (fewer than ``min_count`` values on either side) and ``why``
    (the rules' own wording of it, for the cell's hover text); a few cell is not drifted.

    ``min_count`` is one number for every cell, or each feature's :class:`Floor`
    (:func:`floors_of`), whose source the hover text then names: which rule's number
    greyed the cell."""
    out = series.copy()
    if "n" not in out or out.empty:
        out["few"], out["why"] = False, ""
        return out
    out["why"] = [
        _why(n, b, min_count if isinstance(min_count, int) else min_count[str(f)])
        for f, n, b in zip(out["feature"], out["n"], out["baseline_n"], strict=True)
    ]
    out["few"] = out["why"] != ""
    out["drifted"] = out["drifted"].astype(bool) & ~out["few"]
    return out


def _why(n: float, baseline_n: float, floor: int | Floor) -> str:
    """:func:`rules.drift.too_few`'s reason, followed by the floor's source when known."""
    if isinstance(floor, int):
        return too_few(n, baseline_n, floor, "the baseline")
    why = too_few(n, baseline_n, floor.count, "the baseline")
    return f"{why} ({floor.source(str)})" if why else ""
