"""Core value types shared by rules, detectors and alerting.

Kept free of I/O so every layer (store, rules, alerting, dashboard) can depend on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Series:
    """A metric over time: ascending epoch-second ``timestamps`` and float ``values``.

    NaN values mean "no data in that bucket" and detectors must skip them.
    """

    timestamps: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        ts = np.asarray(self.timestamps, dtype=np.int64)
        vs = np.asarray(self.values, dtype=np.float64)
        if ts.shape != vs.shape or ts.ndim != 1:
            raise ValueError(f"timestamps {ts.shape} and values {vs.shape} must be equal 1-D")
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", vs)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def from_values(
        cls, values: list[float] | np.ndarray, step_s: int = 60, start: int = 0
    ) -> Series:
        vs = np.asarray(values, dtype=np.float64)
        return cls(start + step_s * np.arange(len(vs), dtype=np.int64), vs)

    def tail(self, n: int) -> Series:
        return Series(self.timestamps[-n:], self.values[-n:])

    def until(self, ts: int) -> Series:
        """The part of the series at or before epoch second ``ts`` (used by backtests)."""
        k = int(np.searchsorted(self.timestamps, ts, side="right"))
        return Series(self.timestamps[:k], self.values[:k])


@dataclass(frozen=True)
class DetectorResult:
    """A detector's verdict on the newest point of a series.

    ``score`` is a non-negative severity comparable across features (used to rank the
    features of one incident); ``lower``/``upper`` is the band the value was expected in.
    """

    anomalous: bool
    value: float
    score: float = 0.0
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=_json_default)


@runtime_checkable
class Detector(Protocol):
    """Judges the newest point of a metric series, optionally against a baseline series.

    Implementations are pure (no clock, no I/O), deterministic, and raise
    ``modelhealth.errors.EmptyWindow`` when ``current`` holds no finite value.
    """

    name: ClassVar[str]

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult: ...


class AlertState(IntEnum):
    """Ordered as in Prometheus so a rule's state is the max over its instances."""

    INACTIVE = 0
    PENDING = 1
    FIRING = 2


def _freeze(mapping: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of a label set (also the pager dedup key of an alert)."""
    blob = json.dumps(_freeze(labels), separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


NOT_JUDGED = "not_judged"
"""Annotation of an alert kept while its rule cannot judge its instance: why."""
NOT_JUDGED_SINCE = "not_judged_since"
"""Annotation of an alert kept while its rule cannot judge its instance: since when (ISO)."""


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One alert instance per label set, with Prometheus-style transition timestamps.

    ``labels`` always include ``alertname`` (the rule name), ``model`` and ``severity``;
    per-feature rules add ``feature``. ``resolved_at`` set means the alert has resolved.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    state: AlertState = AlertState.INACTIVE
    value: float = float("nan")
    active_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_sent_at: datetime | None = None
    kept_firing_since: datetime | None = None
    """Set while a firing alert's condition no longer holds but ``keep_firing_for`` keeps it."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "state": self.state.name.lower(),
            "value": self.value,
            "active_at": _iso(self.active_at),
            "fired_at": _iso(self.fired_at),
            "resolved_at": _iso(self.resolved_at),
            "last_sent_at": _iso(self.last_sent_at),
            "fingerprint": self.fingerprint,
        }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
