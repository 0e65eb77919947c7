"""Batched, cached store access for one evaluation tick (and history across ticks).

Rules never query the store themselves: they ask for a *frame* — one query kind (latency,
score, feature summary, feature histograms) over one window, optionally bucketed — for one
model. Before a tick the evaluator *plans* every (frame, model) it will need; the first request
for a frame then answers every planned model at once:

* when the store has the fleet method (``fleet_latency``/``fleet_score``/
  ``fleet_feature_summary``/``fleet_feature_histograms(models, start_ms, end_ms, *, step_ms,
  by_version, version)`` returning the per-model columns plus a leading ``model``), that is ONE
  query per frame for the whole fleet;
* otherwise one query per (frame, model), shared by every rule of that model.

Frames that cover only complete past buckets (history) are kept across ticks, so a z-score rule
over a day of hourly points queries its history once an hour, not once a tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from modelhealth.errors import StoreUnavailable
from modelhealth.performance.windows import latest_labels
from modelhealth.store.backend import QueryBackend, Scope

KINDS = ("latency", "score", "summary", "hist", "score_hist", "outcomes")
_FLEET_METHODS = {
    "latency": "fleet_latency",
    "score": "fleet_score",
    "summary": "fleet_feature_summary",
    "hist": "fleet_feature_histograms",
}


@dataclass(frozen=True)
class FrameKey:
    """One store query shape, independent of the model it is asked for."""

    kind: str
    start_ms: int
    end_ms: int
    step_ms: int | None = None
    by_version: bool = False
    version: str | None = None
    stable: bool = False  # covers only complete past buckets: reusable across ticks
    edges: tuple[float, ...] = ()  # score histogram bin edges (kind "score_hist" only)
    labels_until_ms: int | None = None  # kind "outcomes": labels that arrived before this

    def scope(self, model: str) -> Scope:
        return Scope(model, self.start_ms, self.end_ms, version=self.version)


class FrameSource:
    """Answers frame requests, one store query per frame (fleet store) or per frame and model."""

    def __init__(self, store: QueryBackend, keep: dict[Any, pd.DataFrame] | None = None) -> None:
        self.store = store
        self.queries = 0
        self.failures = 0
        self._planned: dict[FrameKey, set[str]] = {}
        self._cache: dict[tuple[FrameKey, str], pd.DataFrame] = {}
        self._keep = keep if keep is not None else {}
        self._used: set[tuple[FrameKey, str]] = set()
        self.memo: dict[Any, Any] = {}  # derived values shared by rules within this tick

    def plan(self, key: FrameKey, model: str) -> None:
        self._planned.setdefault(key, set()).add(model)

    def get(self, key: FrameKey, model: str) -> pd.DataFrame:
        ck = (key, model)
        if key.stable:
            self._used.add(ck)
            if ck in self._keep:
                return self._keep[ck]
        if ck not in self._cache:
            self._fetch(key, model)
        frame = self._cache[ck]
        if key.stable:
            self._keep[ck] = frame
        return frame

    def forget_unused(self) -> None:
        """Drop kept history frames this tick did not ask for (their buckets moved on)."""
        for ck in [k for k in self._keep if k not in self._used]:
            del self._keep[ck]

    def _fetch(self, key: FrameKey, model: str) -> None:
        fleet = getattr(self.store, _FLEET_METHODS.get(key.kind, ""), None)
        models = sorted(self._planned.get(key, set()) | {model})
        if fleet is not None and len(models) > 1:
            missing = [m for m in models if (key, m) not in self._cache]
            df = self._run(
                lambda: fleet(
                    missing,
                    key.start_ms,
                    key.end_ms,
                    step_ms=key.step_ms,
                    by_version=key.by_version,
                    version=key.version,
                )
            )
            parts = dict(iter(df.groupby("model", sort=False))) if len(df) else {}
            for m in missing:
                part = parts.get(m)
                empty = df.iloc[0:0].drop(columns=["model"])
                self._cache[(key, m)] = (
                    part.drop(columns=["model"]).reset_index(drop=True)
                    if part is not None
                    else empty
                )
            return
        self._cache[(key, model)] = self._run(lambda: _single(self.store, key, model))

    def _run(self, call: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        self.queries += 1
        try:
            return call()
        except StoreUnavailable:
            self.failures += 1
            raise
        except (ValueError, TypeError, LookupError):
            raise  # bad input or an unexpected frame: a rule error, not an outage
        except Exception as exc:  # the driver's errors (connection, I/O): "store failed"
            self.failures += 1
            raise StoreUnavailable(f"store query failed: {type(exc).__name__}: {exc}") from exc


def _single(store: QueryBackend, key: FrameKey, model: str) -> pd.DataFrame:
    scope = key.scope(model)
    if key.kind == "latency":
        return store.latency(scope, step_ms=key.step_ms, by_version=key.by_version)
    if key.kind == "score":
        if key.by_version:
            raise ValueError("score metrics cannot be grouped by version yet")
        return store.score(scope, step_ms=key.step_ms)
    if key.kind == "summary":
        return store.feature_summary(scope, step_ms=key.step_ms, by_version=key.by_version)
    if key.kind == "hist":
        return store.feature_histograms(scope, step_ms=key.step_ms, by_version=key.by_version)
    if key.kind == "score_hist":
        return store.score_histogram(scope, key.edges)
    if key.kind == "outcomes":
        df = store.outcomes(scope, step_ms=key.step_ms)
        if key.labels_until_ms is not None:  # what production knew at the tick, in a backtest too
            df = df[df["ts_label"] < key.labels_until_ms]
        df = latest_labels(df)
        # one row per prediction: its time is a bucket only in a bucketed (history) frame
        return df if key.step_ms else df.drop(columns="ts")
    raise ValueError(f"unknown frame kind {key.kind!r}; known: {', '.join(KINDS)}")


def plan_all(source: FrameSource, keys: Iterable[tuple[FrameKey, str]]) -> None:
    for key, model in keys:
        source.plan(key, model)
