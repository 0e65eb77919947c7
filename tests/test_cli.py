"""The `modelhealth` dispatcher."""

from __future__ import annotations

import subprocess
import sys


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """`modelhealth rules metrics | head -1` ended with a BrokenPipeError traceback."""
    cmd = f"{sys.executable} -m modelhealth.cli rules metrics | head -1"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("latency.mean")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
