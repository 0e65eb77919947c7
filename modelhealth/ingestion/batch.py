"""What a flush hands to a sink: one DataFrame per table plus the parked events."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from modelhealth.ingestion.schema import FEATURE_BINS, FEATURE_STATS, INFERENCES, OUTCOMES, Table

PARKED = "parked"
"""Key of parked records in per-table row counts (topic ``modelhealth.parked``, DuckDB table
``parked_events``)."""
USER_ROWS = frozenset({INFERENCES.name, OUTCOMES.name, PARKED})
"""Tables whose rows stand one for one for something a user logged (a prediction, a label, a
rejected event's record), as opposed to ``feature_stats``/``feature_bins``: aggregates whose
row count says nothing about how many predictions they summarise. ``stats.dropped_rows``
counts only these, so "12 dropped" means 12 predictions, labels or parked records."""


def empty_frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=_dtype(t)) for c, t in ((col.name, col.type) for col in table.columns)}
    )


def _dtype(type_: str) -> str:
    return {"LONG": "int64", "INT": "int32", "DOUBLE": "float64", "STRING": "object"}[type_]


@dataclass(frozen=True)
class ParkedEvent:
    """An event that failed validation, kept with the reason so nothing is silently lost."""

    reason: str
    event: str  # JSON (or repr) of what was received
    ts: int  # epoch ms when it was parked


@dataclass
class EventBatch:
    """Rows for every table, produced by one flush of the SDK."""

    inferences: pd.DataFrame = field(default_factory=lambda: empty_frame(INFERENCES))
    feature_stats: pd.DataFrame = field(default_factory=lambda: empty_frame(FEATURE_STATS))
    feature_bins: pd.DataFrame = field(default_factory=lambda: empty_frame(FEATURE_BINS))
    outcomes: pd.DataFrame = field(default_factory=lambda: empty_frame(OUTCOMES))
    parked: list[ParkedEvent] = field(default_factory=list)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            INFERENCES.name: self.inferences,
            FEATURE_STATS.name: self.feature_stats,
            FEATURE_BINS.name: self.feature_bins,
            OUTCOMES.name: self.outcomes,
        }

    def rows_by_table(self) -> dict[str, int]:
        """Rows per table (parked records under :data:`PARKED`), tables without rows left out."""
        counts = {name: len(frame) for name, frame in self.frames().items()}
        counts[PARKED] = len(self.parked)
        return {name: n for name, n in counts.items() if n}

    def rows(self) -> int:
        """Rows of every table, parked records included."""
        return sum(self.rows_by_table().values())

    def user_rows(self) -> int:
        """Predictions, labels and parked records (:data:`USER_ROWS`)."""
        return sum(n for name, n in self.rows_by_table().items() if name in USER_ROWS)

    def aggregate_rows(self) -> int:
        """Feature-stats and feature-bins rows (aggregates, not in :data:`USER_ROWS`)."""
        return self.rows() - self.user_rows()

    def is_empty(self) -> bool:
        return not self.parked and all(len(f) == 0 for f in self.frames().values())


class Sink(Protocol):
    """Where flushed batches go: the embedded DuckDB store, Kafka, or a test double."""

    def write(self, batch: EventBatch) -> None: ...

    def close(self) -> None: ...


def concat(batches: list[EventBatch]) -> EventBatch:
    """The rows of ``batches`` as one batch, in order (a flush writes what was kept unsent
    and its fresh rows in one write)."""
    batches = [b for b in batches if not b.is_empty()]
    if not batches:
        return EventBatch()
    if len(batches) == 1:
        return batches[0]
    out = EventBatch(parked=[p for b in batches for p in b.parked])
    for attr in ("inferences", "feature_stats", "feature_bins", "outcomes"):
        frames = [getattr(b, attr) for b in batches if len(getattr(b, attr))]
        if frames:
            setattr(out, attr, pd.concat(frames, ignore_index=True))
    return out


def bound_unsent(batches: list[EventBatch], limit: int) -> tuple[list[EventBatch], Counter[str]]:
    """``batches`` (oldest first) cut to at most ``limit`` user rows and ``limit`` aggregate
    rows, the oldest dropped first and the newest always kept whole; the dropped rows per
    table.

    Aggregates have a bound of their own: Kafka's sink hands rows back one batch per message,
    each of one table, and a feature-stats batch holds no user row. Bounded on user rows
    alone, such batches were never dropped, and their rows piled up for as long as Kafka
    stayed down (70 more per failed flush of a 10-feature model).
    """
    kept = [b for b in batches if not b.is_empty()]
    dropped: Counter[str] = Counter()
    for weigh in (EventBatch.user_rows, EventBatch.aggregate_rows):
        total = sum(map(weigh, kept))
        i = 0
        while total > limit and i < len(kept) - 1:
            rows = weigh(kept[i])
            if not rows:
                i += 1
                continue
            total -= rows
            dropped.update(kept.pop(i).rows_by_table())
    return kept, dropped
