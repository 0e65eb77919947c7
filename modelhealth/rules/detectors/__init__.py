"""Detectors: each judges the newest point of a metric series (see modelhealth.types.Detector).

Registered explicitly here — no auto-registration — with the parameters a YAML config may set.
"""

from __future__ import annotations

from modelhealth.rules.detectors.threshold import Threshold

DETECTORS: dict[str, type] = {
    "threshold": Threshold,
}
