"""benchmarks/detection.py accepts any folder in the NAB layout and reports held-out files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.anomaly.dataset import is_held_out
from tests.anomaly.benchmark_script import run_benchmark

POINTS = 1500


def _names() -> list[str]:
    """Twelve file names, at least three of them on each side of the fixed split."""
    names = [f"grp/series_{i:02d}.csv" for i in range(40)]
    held = [n for n in names if is_held_out(n)][:4]
    train = [n for n in names if not is_held_out(n)][:8]
    assert len(held) >= 3 and len(train) >= 3
    return train + held


def _write_dataset(root: Path) -> dict[str, list[list[str]]]:
    (root / "data" / "grp").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(4)
    stamps = pd.date_range("2024-01-01", periods=POINTS, freq="5min")
    text = stamps.strftime("%Y-%m-%d %H:%M:%S")
    day = np.sin(np.arange(POINTS) / 288 * 2 * np.pi)
    labels: dict[str, list[list[str]]] = {}
    for name in _names():
        values = 50 + 10 * day + rng.normal(size=POINTS)
        at = int(rng.integers(600, 1300))
        values[at : at + 6] += 25  # a spike any detector should catch
        labels[name] = [[text[at - 20], text[at + 20]]]
        lines = ["timestamp,value"] + [f"{t},{v:.4f}" for t, v in zip(text, values, strict=True)]
        (root / "data" / name).write_text("\n".join(lines) + "\n")
    (root / "labels" / "windows.json").write_text(json.dumps(labels))
    return labels


def test_harness_reports_every_detector_on_held_out_files(tmp_path: Path):
    labels = _write_dataset(tmp_path)
    out = run_benchmark(
        "detection.py",
        str(tmp_path),
        "--seeds",
        "0,1",
        "--save-model",
        str(tmp_path / "model"),
        cwd=tmp_path,
    )
    held = sum(is_held_out(n) for n in labels)
    assert f"Held-out results ({held} files, {held} windows)" in out
    assert "A window is caught (TP) if" in out  # the event rule is stated with the results
    rows = {}
    for line in out.splitlines():
        m = re.match(
            r"^(learned s=\d|static|zscore|holt_winters|arima)\s+([\d.]+)\s+"
            r"([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)",
            line,
        )
        if m:
            rows[m.group(1)] = [float(v) for v in m.groups()[1:]]
    assert set(rows) == {"learned s=0", "learned s=1", "static", "zscore", "holt_winters", "arima"}
    for name, (*_, tp, fn, _fp) in rows.items():
        assert tp + fn == held, name
    assert rows["holt_winters"][2] > 0.5  # the spikes are obvious to a seasonal model
    assert rows["learned s=0"][3] >= 1
    assert "learned F1 over 2 seed(s): mean" in out
    assert "learned total runtime (mean over seeds) / ARIMA total runtime" in out
    assert f"Paired bootstrap over the {held} held-out files" in out
    intervals = re.findall(r"vs (\w+) +\[([-+.\d]+), ([-+.\d]+)\]  learned higher in", out)
    assert {name for name, _, _ in intervals} == {"static", "zscore", "holt_winters", "arima"}
    assert all(float(lo) <= float(hi) for _, lo, hi in intervals)
    assert (tmp_path / "model" / "meta.json").is_file()
    assert list((tmp_path / "artifacts" / "benchmarks").glob("detection_*_quality.png"))
    assert list((tmp_path / "artifacts" / "benchmarks").glob("detection_*_gallery.png"))
    alone = {
        rule: (int(tp), int(fn))
        for rule, tp, fn in re.findall(r"^  (\w+) +TP +(\d+)  FN +(\d+)  FP", out, re.M)
    }
    assert "classifier" in alone
    assert set(alone) <= {"classifier", "holt_winters", "discord", "long_discord"}
    for rule, (tp, fn) in alone.items():
        assert tp + fn == held, rule
        assert tp <= rows["learned s=0"][3], rule  # a window one rule catches, the union does


def test_cross_validation_reads_only_training_files(tmp_path: Path):
    labels = _write_dataset(tmp_path)
    out = run_benchmark(
        "detection_cv.py", str(tmp_path), "--seeds", "0", "--splits", "cv:", cwd=tmp_path
    )
    train_windows = sum(not is_held_out(n) for n in labels)
    m = re.search(r"split cv:\s+seed 0: F1 ([\d.]+) .* TP (\d+) FN (\d+) FP (\d+)", out)
    assert m, out
    assert int(m.group(2)) + int(m.group(3)) == train_windows  # every training window, no more
    assert "mean F1 over 1 split x seed lines" in out


def test_nightly_gaps_take_the_same_hours_out_of_held_out_files_only(tmp_path: Path):
    labels = _write_dataset(tmp_path)
    out = run_benchmark(
        "detection.py", str(tmp_path), "--nightly-gaps", "--only", "static", cwd=tmp_path
    )
    assert "each held-out series without the same 3-8 hours of every day" in out
    points = dict(re.findall(r"^    (grp/\S+)  points=(\d+)", out, re.M))
    assert set(points) == set(labels)
    for name, n in points.items():
        if is_held_out(name):  # 3 to 8 hours of each day's 24 gone
            assert POINTS * 15 / 24 <= int(n) <= POINTS * 21 / 24 + 12, name
        else:
            assert int(n) == POINTS, name
    assert re.search(r"^static .* (\d+) +(\d+) +(\d+) ", out, re.M)
    charts = tmp_path / "artifacts" / "benchmarks"
    assert list(charts.glob("detection_*-nightly-gaps_held-out_quality.png"))
