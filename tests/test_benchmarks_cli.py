"""The benchmark scripts: each has a --help, and a tiny run prints its figures and its chart.

Tiny sizes only (a few seconds each); the scripts run as a user runs them (``python
benchmarks/X.py``) from a temporary directory, so their charts land in its
``artifacts/benchmarks/`` and not in the checkout.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in {"__init__.py", "plotting.py"})
SCRIPTS.remove("detection_baselines.py")  # a module of detection.py, not a script


def _run(cwd: Path, script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_has_a_help_that_states_its_sizes(script: str, tmp_path: Path) -> None:
    """`notify.py --help` used to crash: it read sys.argv[1] as the N of notifications."""
    proc = _run(tmp_path, script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:"), proc.stdout
    assert "default" in proc.stdout  # the sizes it runs at unless told otherwise
    assert not (tmp_path / "artifacts").exists()  # --help runs nothing


TINY = {  # script: arguments of a run of a few seconds
    "notify.py": "20 --repeats 2 --warmup 5",
    "rules.py": "--models 2 --features 2 --minutes 10 --ticks 1",
    "scheduler_memory.py": "--models 2 --features 2 --warmup 5 --ticks 20",
    "ingest.py": "--events 2000 --features 5 --batch 1000 --per-event-sample 200",
    "sdk_outage.py": "--events 3000 --paced 300 --rate 2000 --max-block-ms 1000",
    "drift.py": "--rows 3000 --features 10 --evidently-rows 1000",
    "dashboard.py": "--days 1 --features 3 --runs 1",
    "dashboard_fleet.py": "--models 12 --days 1 --runs 1 --before-models 5",
    "learned_tick.py": "--series 2 --days 21 --train-models 1",
    "detection_cv.py": "--simulated --models 2 --folds 2 --splits cv: --seeds 0",
    "detection.py": "--simulated --models 2 --seeds 0 --only learned --gallery 0",
}


def _notify(proc: subprocess.CompletedProcess) -> None:
    """Both paths warmed up, the order rotated, a median with its spread."""
    assert "2 repeats (order rotated), 5 warm-up each; median (min-max)" in proc.stdout
    assert "direct -> memory -> file" in proc.stderr
    assert "memory -> file -> direct" in proc.stderr


def _drift(proc: subprocess.CompletedProcess) -> None:
    """The headline ratios are measured on the same rows; a scaled figure says it is one."""
    out = proc.stdout
    assert "Measured on the same first 1,000 rows, both sides in this run" in out
    assert len(re.findall(r"^  ratio Evidently / .*\(measured\)$", out, re.M)) == 3
    scaled = [line for line in out.splitlines() if "x3" in line or "~" in line]
    assert len(scaled) == 4 and all("est" in line.lower() for line in scaled), scaled


def _detection(proc: subprocess.CompletedProcess) -> None:
    """No baseline ran, so no bootstrap header with nothing under it."""
    assert "learned F1 over 1 seed(s)" in proc.stdout
    assert "Paired bootstrap" not in proc.stdout


def _detection_cv(proc: subprocess.CompletedProcess) -> None:
    assert "not a speed benchmark" in proc.stdout and "no peer" in proc.stdout


def _scheduler_memory(proc: subprocess.CompletedProcess) -> None:
    """Both shapes ran in processes of their own and are compared in one line."""
    assert len(re.findall(r"^  fleet(-semi)? +-?\d+\.\d\d KB/tick", proc.stdout, re.M)) == 2
    assert "kept per tick: fleet" in proc.stdout and "fleet-semi (before)" in proc.stdout


def _sdk_outage(proc: subprocess.CompletedProcess) -> None:
    """Every case's latency line, the ratios against the healthy peer, no event unaccounted."""
    out = proc.stdout
    assert len(re.findall(r"p99\.9 +\d+\.\d+ ms +max", out)) == 4, out
    assert "ratios kafka-down / healthy (same run):" in out
    assert out.count("(ok)") == 2 and "MISMATCH" not in out  # the healthy peers, closed


CHECKS = {
    "sdk_outage.py": _sdk_outage,
    "scheduler_memory.py": _scheduler_memory,
    "notify.py": _notify,
    "drift.py": _drift,
    "detection.py": _detection,
    "detection_cv.py": _detection_cv,
}


@pytest.mark.parametrize("script", sorted(TINY))
def test_a_tiny_run_prints_figures_and_saves_a_chart(script: str, tmp_path: Path) -> None:
    if script == "drift.py" and importlib.util.find_spec("evidently") is None:
        pytest.skip("evidently (the drift peer, the bench extra) is not installed")
    proc = _run(tmp_path, script, *TINY[script].split())
    assert proc.returncode == 0, proc.stderr[-3000:]
    charts = re.findall(r"\S+\.png", "\n".join(re.findall(r"^charts?: .*$", proc.stdout, re.M)))
    assert charts, proc.stdout
    for chart in charts:
        path = tmp_path / chart
        assert path.is_file() and path.stat().st_size > 1000, chart
        assert path.parent == tmp_path / "artifacts" / "benchmarks"
    if script in CHECKS:
        CHECKS[script](proc)
