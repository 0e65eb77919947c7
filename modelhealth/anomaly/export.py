"""``anomaly export``: a fleet's own health series from the store, in the NAB layout.

The learned detector ships trained on NAB or the simulated fleet; a team that wants it
trained on its own models' metrics exports them with this command, optionally labels
incident windows in ``labels/labels.json``, and runs ``anomaly train DIR --all-files``.
Without labels, training tunes the filters on injected anomalies (``train.train``).

Series are bucketed exactly as a rule with ``window: STEP`` sees them (the rules engine's
frames and metric functions, buckets without data left out as the engine leaves them out;
for ``count`` and ``qps`` silent buckets are 0 and a bucket that starts before the first
data of its version is left out, ``series.history_as_judged``), so a model trained on the
export learns from what the scheduler will hand it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.names import check_name
from modelhealth.rules.frames import FrameKey, FrameSource
from modelhealth.rules.metrics import (
    frame_kind,
    is_contract_metric,
    is_drift_metric,
    known_metrics,
    metric_frame,
)
from modelhealth.rules.series import history_as_judged
from modelhealth.store.backend import QueryBackend

EXPORTABLE_KINDS = ("latency", "score", "summary", "hist")
"""Frame kinds whose metrics are plain per-bucket values (drift needs a reference profile and
contract checks a contract, so neither is a standalone series)."""
UNVERSIONED_KINDS = ("score",)
"""Frame kinds the store cannot split by version yet: their metrics are exported as one
series per model (and feature) across all its versions, ``<metric>__all.csv``."""
MIN_POINTS = 100
"""Series with fewer finite buckets than this are skipped: too short to learn a day from."""


@dataclass(frozen=True)
class ExportedSeries:
    """One written CSV: which model, metric, version and feature it holds."""

    path: Path
    model: str
    metric: str
    version: str
    feature: str | None
    points: int


def check_metric(metric: str) -> str:
    """``metric`` if it can be exported as a series, else a ValueError saying why."""
    if metric not in known_metrics():
        raise ValueError(f"unknown metric {metric!r}; see `modelhealth rules metrics`")
    if is_drift_metric(metric) or is_contract_metric(metric):
        raise ValueError(
            f"{metric}: drift and contract metrics need a reference or contract, not a series;"
            " export the raw metrics (latency.*, score.*, feature.null_rate, feature.mean ...)"
        )
    if frame_kind(metric) not in EXPORTABLE_KINDS:
        raise ValueError(f"{metric}: not a per-bucket value ({frame_kind(metric)} frame)")
    return metric


def export_series(
    store: QueryBackend,
    metrics: Sequence[str],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    out: Path,
    models: Sequence[str] | None = None,
    min_points: int = MIN_POINTS,
    progress: Callable[[str], None] = lambda _: None,
) -> list[ExportedSeries]:
    """Write ``out/data/<model>/<metric>[__<feature>]__<version>.csv`` for every model,
    version and feature of each metric over ``[start_ms, end_ms)`` in ``step_ms`` buckets,
    plus an empty ``out/labels/labels.json`` to add incident windows to. Score metrics
    (:data:`UNVERSIONED_KINDS`) are not split by version: their ``<version>`` is ``all``."""
    for m in metrics:
        check_metric(m)
    unversioned = [m for m in metrics if frame_kind(m) in UNVERSIONED_KINDS]
    if unversioned:
        progress(
            f"{', '.join(unversioned)}: exported across all versions (__all.csv): score"
            " metrics cannot be split by version yet"
        )
    if step_ms <= 0 or end_ms <= start_ms:
        raise ValueError("export needs step > 0 and a non-empty time range")
    start_ms -= start_ms % step_ms
    names = _models(store, models)
    source = FrameSource(store)
    written: list[ExportedSeries] = []
    for model in names:
        short = 0
        for metric in metrics:
            by_version = frame_kind(metric) not in UNVERSIONED_KINDS
            key = FrameKey(frame_kind(metric), start_ms, end_ms, step_ms, by_version=by_version)
            values = metric_frame(metric, source.get(key, model), step_ms)
            values = history_as_judged(metric, values, key, model, source)
            for labels, series in instance_series(values):
                if len(series) < min_points:
                    short += 1
                    continue
                path = _write(out, model, metric, labels, series)
                written.append(
                    ExportedSeries(
                        path, model, metric, labels["version"], labels.get("feature"), len(series)
                    )
                )
        skipped = f", {short} skipped (fewer than {min_points} buckets)" if short else ""
        progress(f"{model}: {sum(1 for w in written if w.model == model)} series{skipped}")
    labels_file = out / "labels" / "labels.json"
    labels_file.parent.mkdir(parents=True, exist_ok=True)
    if not labels_file.exists():
        labels_file.write_text("{}\n")
    return written


def _models(store: QueryBackend, models: Sequence[str] | None) -> list[str]:
    """The models to export: all the store's, or the named ones, which must be in it
    (a typo would otherwise export nothing and look like a too-short history)."""
    known = store.models()
    if not models:
        return list(known)
    for name in models:
        check_name(name, "model")
    unknown = [m for m in models if m not in known]
    if unknown:
        shown = ", ".join(sorted(known)) or "none"
        raise ValueError(
            f"no such model {', '.join(map(repr, unknown))} in the store; known: {shown}"
        )
    return list(models)


def too_short(step_ms: int, history_ms: int, min_points: int = MIN_POINTS) -> str:
    """Why an export wrote nothing: how much history ``min_points`` buckets need at this step.

    Only buckets with data count, so a model called a few hours a day needs longer still."""
    need = _span(min_points * step_ms)
    have = _span(history_ms)
    return (
        f"every series needs at least {min_points} buckets with data, {need} of history at"
        f" --step {_span(step_ms)}; the exported range holds {have}"
        f" ({history_ms // step_ms} buckets). Export after more traffic, or use a smaller --step"
    )


def _span(ms: int) -> str:
    """A duration the way --since and --step are written (``8h20m``, ``3d``, ``5m``)."""
    minutes = ms // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (mins, "m")) if v]
    return "".join(parts) or f"{ms // 1000}s"


def instance_series(values: pd.DataFrame) -> list[tuple[dict[str, str], pd.Series]]:
    """``metric_frame`` rows split per instance (version, feature): its labels, and its
    finite values indexed by bucket start (ms), ascending."""
    if values.empty:
        return []
    keys = [k for k in ("version", "feature") if k in values.columns]
    groups = values.groupby(keys, sort=True) if keys else [((), values)]
    out = []
    for group, rows in groups:
        parts = group if isinstance(group, tuple) else (group,)
        labels = dict(zip(keys, map(str, parts), strict=True)) or {"version": "all"}
        labels.setdefault("version", "all")
        series = rows.groupby("ts")["value"].mean().sort_index()
        out.append((labels, series[np.isfinite(series.to_numpy())]))
    return out


def _write(out: Path, model: str, metric: str, labels: dict[str, str], series: pd.Series) -> Path:
    parts = [metric, *([labels["feature"]] if "feature" in labels else []), labels["version"]]
    path = out / "data" / model / ("__".join(parts) + ".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = pd.to_datetime(series.index.to_numpy(), unit="ms", utc=True)
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": series})
    frame.to_csv(path, index=False)
    return path


def left_over(out: Path, written: Sequence[ExportedSeries]) -> list[str]:
    """CSV files under ``out/data`` this export did not write (an earlier export's other
    metrics, or versions now too short), as ``<model>/<file>``: ``anomaly train`` reads
    every file there, so a re-export into the same folder would silently train on them."""
    data = out / "data"
    fresh = {w.path.resolve() for w in written}
    found = sorted(data.rglob("*.csv")) if data.is_dir() else []
    return [p.relative_to(data).as_posix() for p in found if p.resolve() not in fresh]


def describe(written: Sequence[ExportedSeries]) -> str:
    """One line per model for the command's summary."""
    per_model: dict[str, int] = {}
    for w in written:
        per_model[w.model] = per_model.get(w.model, 0) + 1
    return json.dumps(per_model, sort_keys=True)
