"""Training on tiny synthetic data, the simulated fleet, the dataset loader and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.anomaly.dataset import DatasetError, is_held_out, load_dataset, split
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.model import LearnedModel


def test_tiny_model_catches_injected_incidents(tiny_model: LearnedModel):
    fleet = generate_fleet(models=3, points=700, seed=99)  # unseen seed
    caught = total = 0
    for s in fleet:
        alerts = tiny_model.scan(s.timestamps, s.values).alerts
        for a, b in s.window_index():
            total += 1
            caught += bool(alerts[a : b + 1].any())
    assert total > 0
    assert caught / total >= 0.5


def test_fleet_is_deterministic_and_labelled():
    a, b = (
        generate_fleet(models=2, points=300, seed=5),
        generate_fleet(models=2, points=300, seed=5),
    )
    assert [s.name for s in a] == [s.name for s in b]
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b, strict=True))
    assert any(s.windows for s in generate_fleet(models=6, points=300, seed=5))


def _write_nab(root: Path) -> None:
    (root / "data" / "grp").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2024-01-01", periods=400, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    for name in ("a", "b", "c"):
        values = 10 + rng.normal(size=400)
        if name == "a":
            values[300] += 30
        lines = ["timestamp,value"] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
        (root / "data" / "grp" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    (root / "labels" / "windows.json").write_text(
        '{"grp/a.csv": [["2024-01-02 00:50:00", "2024-01-02 01:30:00"]], "grp/b.csv": []}'
    )


def test_load_dataset_reads_nab_layout(tmp_path: Path):
    _write_nab(tmp_path)
    ds = load_dataset(tmp_path)
    assert [s.name for s in ds] == ["grp/a.csv", "grp/b.csv", "grp/c.csv"]
    a = ds[0]
    assert len(a.values) == 400 and len(a.windows) == 1
    ((lo, hi),) = a.window_index()
    assert (lo, hi) == (298, 306)
    assert a.window_mask().sum() == 9
    train, held = split(ds, 0.5)
    assert sorted(s.name for s in train + held) == [s.name for s in ds]
    assert all(is_held_out(s.name, 0.5) for s in held)


def test_bad_csv_names_file_and_line(tmp_path: Path):
    _write_nab(tmp_path)
    (tmp_path / "data" / "grp" / "c.csv").write_text(
        "timestamp,value\n2024-01-01,1\nnot-a-date,2\n"
    )
    with pytest.raises(DatasetError, match=r"c\.csv:3: timestamp 'not-a-date'"):
        load_dataset(tmp_path)
    (tmp_path / "data" / "grp" / "c.csv").write_text("time,val\n1,2\n")
    with pytest.raises(DatasetError, match=r"c\.csv:1: header has columns"):
        load_dataset(tmp_path)


def test_cli_trains_and_saves(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    _write_nab(tmp_path / "ds")
    out = tmp_path / "model"
    assert anomaly_main(["train", str(tmp_path / "ds"), "--out", str(out), "--all-files"]) == 0
    assert "saved" in capsys.readouterr().out
    model = LearnedModel.load(out)
    assert model.info["train_files"] == ["grp/a.csv", "grp/b.csv", "grp/c.csv"]
