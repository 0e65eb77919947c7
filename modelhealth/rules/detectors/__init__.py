"""Detectors: each judges the newest point of a metric series (see modelhealth.types.Detector).

Registered explicitly here — no auto-registration. A factory is any callable taking the YAML
``detector:`` parameters (minus ``type``) and returning a detector; it raises ValueError or
TypeError on bad parameters, which config validation reports at the rule's line.

Every detector also has ``lookback: timedelta``: how much history before the current window it
needs (0 = only the newest point). The evaluator fetches that much per-window history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from modelhealth.rules.detectors._common import duration
from modelhealth.rules.detectors.change import Change
from modelhealth.rules.detectors.holt_winters import HoltWinters
from modelhealth.rules.detectors.seasonal import Seasonal
from modelhealth.rules.detectors.threshold import Threshold
from modelhealth.rules.detectors.zscore import ZScore


class DetectorUnavailable(ValueError):
    """A registered detector whose implementation is not installed or cannot load."""


def learned(model: str | None = None, lookback: str | int | None = None, **params: Any) -> Any:
    """The plug-in learned detector, imported only when a rule uses it (LightGBM is heavy).

    YAML: ``detector: {type: learned, model: models/latency.lgbm}``. Without ``lookback``
    the rule fetches the buckets the model's verdict needs (``LearnedDetector.lookback_for``
    its window: about 22 days of 5-minute buckets); history frames are kept across ticks,
    so that is one long query per model, then one new bucket per tick."""
    if not model:
        raise ValueError("learned detector needs 'model: PATH' (a trained model directory)")
    if not isinstance(model, str):  # `model: [x]` failed in os.fspath, naming no parameter
        raise ValueError(f"'model' must be a path to a trained model directory, got {model!r}")
    from modelhealth.anomaly import learn_extra_problem

    problem = learn_extra_problem()  # the import below would fail with a bare module name
    if problem:
        raise DetectorUnavailable(problem)
    try:
        from modelhealth.anomaly.detector import LearnedDetector
    except ImportError as exc:
        raise DetectorUnavailable(f"learned detector is not installed: {exc}") from None
    try:
        det = LearnedDetector(model, **params)
    except (OSError, ValueError) as exc:
        raise DetectorUnavailable(f"cannot load learned model {model!r}: {exc}") from None
    if lookback is not None:
        det.lookback = duration(lookback, "lookback")
    return det


DETECTORS: dict[str, Callable[..., Any]] = {
    "threshold": Threshold,
    "change": Change,
    "zscore": ZScore,
    "seasonal": Seasonal,
    "holt_winters": HoltWinters,
    "learned": learned,
}

PATH_PARAMS: dict[str, tuple[str, ...]] = {"learned": ("model",)}
"""Parameters that are file paths, resolved relative to the config file that names them."""


REFERENCE_BUCKET = timedelta(minutes=5)
"""Bucket assumed when a detector's history is asked for without a rule's window."""


def lookback_of(detector: object, window: timedelta | None = None) -> timedelta:
    """History a built detector needs before the current window of a rule whose windows
    (history buckets) are ``window`` wide.

    A detector whose ``lookback`` is None and that has ``lookback_for(bucket)`` counts its
    history in buckets (the learned detector), so its lookback depends on the rule's window.
    One with ``check_lookback(bucket)`` raises ValueError there when its set ``lookback`` is
    too short for such windows (config validation reports it at the rule).
    """
    lb = getattr(detector, "lookback", timedelta(0))
    for_bucket = getattr(detector, "lookback_for", None)
    bucket = window if window and window > timedelta(0) else REFERENCE_BUCKET
    check = getattr(detector, "check_lookback", None)
    if lb is not None and callable(check):
        check(bucket)
    if lb is None and callable(for_bucket):
        lb = for_bucket(bucket)
    return lb if isinstance(lb, timedelta) else timedelta(0)
