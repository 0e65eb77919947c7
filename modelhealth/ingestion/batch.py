"""What a flush hands to a sink: one DataFrame per table plus the parked events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from modelhealth.ingestion.schema import FEATURE_BINS, FEATURE_STATS, INFERENCES, OUTCOMES, Table


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

    def is_empty(self) -> bool:
        return not self.parked and all(len(f) == 0 for f in self.frames().values())


class Sink(Protocol):
    """Where flushed batches go: the embedded DuckDB store, Kafka, or a test double."""

    def write(self, batch: EventBatch) -> None: ...

    def close(self) -> None: ...
