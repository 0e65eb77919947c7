"""A small learned-detector model trained once per test session (for the conformance suite).

Its folder is removed when the session's interpreter exits: each run left one
``mh-learned-*`` folder in the temp dir (68 of them after a few days of CI runs).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def trained_model_path() -> Path:
    from modelhealth.anomaly.fleet import generate_fleet
    from modelhealth.anomaly.train import train

    model = train(generate_fleet(models=2, points=600, features=1), rows_per_series=800)
    folder = tempfile.mkdtemp(prefix="mh-learned-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return model.save(Path(folder) / "model")
