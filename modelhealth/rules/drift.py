"""Per-feature (and score) drift of store histograms against a baseline, vectorised.

Current and baseline are store-shaped histogram rows (``[ts] [version] feature bin count``);
each current group (one feature, optionally one bucket/version) is matched with its baseline
group on ``match`` columns, and every pair runs through one call of the registered metric over
a ``(groups, bins)`` matrix — 10,000 features cost one numpy call, not 10,000.

Each value comes with the valid values it was computed from on either side (``n`` and
``baseline_n``): the distances read sampling noise as drift on small windows, so a rule's
``min_count`` leaves a group with fewer not judged (:func:`too_few`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelhealth.drift.alignment import misaligned
from modelhealth.drift.metrics import NUMERIC_ONLY, bin_positions, compute
from modelhealth.ingestion.reference import ModelReference


def reference_rows(ref: ModelReference) -> pd.DataFrame:
    """A reference profile as histogram rows ``feature bin count``."""
    rows = [
        (name, b, float(c))
        for name, f in ref.features.items()
        for b, c in enumerate(f.counts)
        if c > 0
    ]
    return pd.DataFrame(rows, columns=["feature", "bin", "count"])


def drift_values(
    metric: str,
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    keys: Sequence[str],
    match: Sequence[str],
    reference: ModelReference | None = None,
) -> pd.DataFrame:
    """``keys + value + n + baseline_n``: drift of each current group against its matched
    baseline group, with the valid values each side holds.

    A group whose baseline is missing or empty gets NaN (dropped: no data, no verdict).
    Numeric-only metrics (KS, Wasserstein) skip features the reference calls categorical."""
    keys, match = list(keys), list(match)
    if current.empty:
        return pd.DataFrame(columns=[*keys, *VALUE_COLUMNS])
    refs = reference.features if reference is not None else {}
    cur = current[current["count"] > 0]
    unaligned = misaligned([current, baseline], reference)
    if unaligned:  # bins stored with another profile (or none): not judged, never compared
        cur = cur[~cur["feature"].isin(list(unaligned))]
    if metric in NUMERIC_ONLY and refs:
        categorical = [n for n, f in refs.items() if f.kind != "numeric"]
        cur = cur[~cur["feature"].isin(categorical)]
    if cur.empty:
        return pd.DataFrame(columns=[*keys, *VALUE_COLUMNS])
    n_bins = int(max(cur["bin"].max(), baseline["bin"].max() if len(baseline) else 0)) + 1
    n_bins = max([n_bins, *(f.n_bins for f in refs.values())])

    gid = cur.groupby(keys, sort=True).ngroup().to_numpy()
    groups = cur[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    cur_m = np.zeros((len(groups), n_bins))
    np.add.at(cur_m, (gid, cur["bin"].to_numpy(dtype=np.int64)), cur["count"].to_numpy(float))

    base_m = np.zeros((len(groups), n_bins))
    if len(baseline):
        b = baseline[baseline["count"] > 0]
        b_groups = b[match].drop_duplicates().reset_index(drop=True)
        b_groups["_b"] = np.arange(len(b_groups))
        b_idx = b.merge(b_groups, on=match, how="left")["_b"].to_numpy()
        b_m = np.zeros((len(b_groups), n_bins))
        np.add.at(b_m, (b_idx, b["bin"].to_numpy(dtype=np.int64)), b["count"].to_numpy(float))
        to_base = groups[match].merge(b_groups, on=match, how="left")["_b"].to_numpy()
        found = ~pd.isna(to_base)
        base_m[found] = b_m[to_base[found].astype(np.int64)]

    positions = np.tile(np.arange(n_bins, dtype=np.float64), (len(groups), 1))
    for name, f in refs.items():
        if f.kind == "numeric":
            rows = (groups["feature"] == name).to_numpy()
            if rows.any():
                pos = bin_positions(f.edges)
                padded = np.concatenate([pos, np.repeat(pos[-1], n_bins - pos.size)])
                positions[rows] = padded[:n_bins]
    values = compute(metric, base_m, cur_m, positions=positions)
    out = groups.copy()
    out["value"] = values
    out["n"] = cur_m.sum(axis=1)
    out["baseline_n"] = base_m.sum(axis=1)
    return out[np.isfinite(out["value"])].reset_index(drop=True)


VALUE_COLUMNS = ("value", "n", "baseline_n")
"""The columns :func:`drift_values` adds to the keys: the drift and each side's size."""


def enough(values: pd.DataFrame, min_count: int) -> pd.Series:
    """Which rows of a :func:`drift_values` frame hold ``min_count`` valid values or more
    on both sides: a baseline of 12 values is as noisy as a window of 12 (the spread of a
    distance under no drift grows with ``1/n + 1/baseline_n``)."""
    return (values["n"] >= min_count) & (values["baseline_n"] >= min_count)


def too_few(n: float, baseline_n: float, min_count: int, baseline: str) -> str:
    """Why a drift value of ``n`` window values against ``baseline_n`` baseline values
    (``baseline`` says which, e.g. "the reference profile") is not judged, or "" when both
    hold ``min_count``. The window is named first: its traffic is what varies."""
    if n < min_count:
        return f"{n:.0f} values in the window, fewer than min_count {min_count}"
    if baseline_n < min_count:
        return f"{baseline_n:.0f} values in {baseline}, fewer than min_count {min_count}"
    return ""
