"""Runs a script of ``benchmarks/`` the way a user does, for the tests that check its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str, cwd: Path) -> str:
    """``python benchmarks/SCRIPT ARGS`` in ``cwd`` (where its charts land); its stdout.

    Fails the calling test with the end of stderr when the script exits non-zero.
    """
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
