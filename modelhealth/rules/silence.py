"""Traffic metrics read a window without events as 0, so a model that stops serving alerts.

The store only returns buckets that hold events. For most metrics that is right: a window
without requests has no p99 latency and no null rate, and its instance is simply not judged.
For ``count`` and ``qps`` it is wrong: no requests *is* the value, 0, and the most important
one. Without this a model whose servers died had no instance at all, so ``count below 1``
never fired and an alert already firing on it resolved (see ``tests/rules/test_silence.py``).

An instance gets a 0 in the current window when the rule has no ``group_by: [version]``
(the model as a whole always exists) or when its version has data in the history the rule
fetched (its ``lookback``): a version retired longer ago than that is forgotten rather than
reported as silent for ever. Inside the fetched history, each instance's missing buckets
after its first one are 0 too, so a seasonal or statistical detector compares a silent night
with earlier silent nights rather than with a series that skips them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelhealth.rules.frames import FrameKey

ZERO_WHEN_EMPTY: tuple[str, ...] = ("count", "qps", "performance.labels")
"""Metrics whose value over a window without events is 0 instead of missing (for
``performance.labels``: a window none of whose predictions has a label yet, so a rule on it
pages when labels stop arriving altogether, not only while a few still do)."""


def with_zeros(
    metric: str,
    cur: pd.DataFrame,
    hist: pd.DataFrame | None,
    current: FrameKey,
    history: FrameKey | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(cur, hist)`` metric frames with the zeros ``metric`` implies (unchanged for other
    metrics): a 0 row for every silent instance in ``cur`` (the ``current`` frame's), and a 0
    for each bucket of ``hist`` (``history``'s grid) that an instance skipped after its first.
    Instances are versions when ``current`` is split by version, else the model."""
    if metric not in ZERO_WHEN_EMPTY:
        return cur, hist
    keys = ["version"] if current.by_version else []
    if cur.empty:  # an empty answer need not carry the key columns
        cur = pd.DataFrame(columns=[*keys, "value"])
    seen = hist is not None and len(hist) > 0 and all(k in hist.columns for k in keys)
    if keys:
        known = [cur[keys], hist[keys]] if seen else [cur[keys]]
        every = pd.concat(known, ignore_index=True).drop_duplicates()
        flags = every.merge(cur[keys].drop_duplicates(), on=keys, how="left", indicator=True)
        silent = flags.loc[flags["_merge"] == "left_only", keys]
        zeros = silent.assign(value=0.0)
        if cur.empty:
            cur = zeros.reset_index(drop=True)
        elif len(zeros):
            cur = pd.concat([cur, zeros], ignore_index=True)
    elif cur.empty:
        cur = pd.DataFrame({"value": [0.0]})
    return cur, zero_filled_history(metric, hist, history)


def zero_filled_history(
    metric: str, hist: pd.DataFrame | None, history: FrameKey | None
) -> pd.DataFrame | None:
    """``hist`` (a bucketed metric frame over ``history``) with every bucket from each
    instance's first one on, 0 where it had none; unchanged for other metrics. The anomaly
    export and the dashboard's band view use it too (``series.history_as_judged``, which
    then leaves out a bucket before the first data), so they see the scheduler's series."""
    if metric not in ZERO_WHEN_EMPTY or hist is None or hist.empty:
        return hist
    if history is None or not history.step_ms:
        return hist
    keys = [k for k in ("version",) if k in hist.columns]
    grid = np.arange(history.start_ms, history.end_ms, history.step_ms, dtype=np.int64)
    parts = []
    groups = hist.groupby(keys, sort=True) if keys else [((), hist)]
    for key, rows in groups:
        first = int(rows["ts"].min())
        ts = np.union1d(grid[grid >= first], rows["ts"].to_numpy(dtype=np.int64))
        values = rows.set_index("ts")["value"].reindex(ts, fill_value=0.0)
        part = pd.DataFrame({"ts": ts, "value": values.to_numpy(dtype=np.float64)})
        for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=True):
            part[k] = v
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[[*keys, "ts", "value"]]
