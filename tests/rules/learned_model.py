"""A small learned-detector model trained once per test session (for the conformance suite)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path


@functools.cache
def trained_model_path() -> Path:
    from modelhealth.anomaly.fleet import generate_fleet
    from modelhealth.anomaly.train import train

    model = train(generate_fleet(models=2, points=600, features=1), rows_per_series=800)
    return model.save(Path(tempfile.mkdtemp(prefix="mh-learned-")) / "model")
