"""Points per seasonal cycle of a series whose store leaves out empty buckets.

The store returns only buckets with data, so a model nobody calls from 01:00 to 06:00 gives
a series with the same five hours missing every day. A seasonal model that counts a day as
``86400 / step`` points then compares each morning with the wrong hour of yesterday, and
the first point after the gap looks like a jump every day. Only a *regular* gap changes the
count: scattered missing buckets (or sensors that report at irregular times) have no
missing clock slot, so they keep the step's figure, whose lag is nearer one cycle of real
time for them.
"""

from __future__ import annotations

import numpy as np

ABSENT = 0.1
"""A clock slot is "never seen" when at most this share of whole cycles has a point in it."""
PRESENT = 0.9
"""...and "always seen" when at least this share has one."""
SETTLED = 0.95
"""Share of slots that must be one or the other for the gap to count as regular."""


def points_per_cycle(timestamps: np.ndarray, cycle_s: float, step_s: float) -> int:
    """Points one ``cycle_s`` cycle holds in a series of ``step_s`` buckets.

    ``round(cycle_s / step_s)``, unless at least two whole cycles with data are seen and the
    same clock slots (at least one in 48, half an hour of a day) are empty in every one of
    them while the others are filled: then the number of filled slots. Cycles without any
    point (a weekend of a business-hours model, an outage) are left out of that test.

    >>> day = np.arange(3 * 288) * 300
    >>> points_per_cycle(day, 86_400, 300)
    288
    >>> night = day[(day % 86_400) >= 5 * 3600]  # nothing from 00:00 to 05:00
    >>> points_per_cycle(night, 86_400, 300)
    228
    """
    full = max(round(cycle_s / step_s), 1) if step_s > 0 else 1
    ts = np.asarray(timestamps, dtype=np.float64)
    if len(ts) < 2 or full < 4:
        return full
    first = np.ceil(ts[0] / cycle_s) * cycle_s
    whole = int((ts[-1] + step_s - first) // cycle_s)
    if whole < 2:
        return full
    inside = ts[(ts >= first) & (ts < first + whole * cycle_s)]
    cycle = ((inside - first) // cycle_s).astype(np.int64)
    slot = np.minimum(((inside - first) % cycle_s // step_s).astype(np.int64), full - 1)
    seen = np.zeros((whole, full), dtype=bool)
    seen[cycle, slot] = True
    active = seen.any(axis=1)  # a cycle without any point (a weekend, an outage) says nothing
    if active.sum() < 2:
        return full
    share = seen[active].mean(axis=0)
    absent, present = share <= ABSENT, share >= PRESENT
    if absent.sum() < max(full // 48, 1) or (absent | present).mean() < SETTLED:
        return full
    return int(present.sum() + (~absent & ~present).sum())
