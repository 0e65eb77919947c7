"""benchmarks/learned_tick.py runs on a saved model and reports both detectors' cost."""

from __future__ import annotations

import re
from pathlib import Path

from modelhealth.anomaly.model import LearnedModel
from tests.anomaly.benchmark_script import run_benchmark


def test_tick_benchmark_times_both_detectors(tiny_model: LearnedModel, tmp_path: Path) -> None:
    model = tiny_model.save(tmp_path / "model")
    out = run_benchmark(
        "learned_tick.py", "--series", "10", "--days", "4", "--model", str(model), cwd=tmp_path
    )
    ms = dict(re.findall(r"^  (learned|holt_winters) +([\d.]+) ms/series", out, re.M))
    assert set(ms) == {"learned", "holt_winters"} and all(float(v) > 0 for v in ms.values())
    # one series in ten carries a spike of half its level on the newest point
    assert re.search(r"holt_winters .*\(1 alerts;", out), out
    assert "learned / holt_winters = " in out and "series per minute" in out
