"""The NAB-layout loader repairs what it safely can and says so; what it cannot place it
names (file, line or window, what was expected)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.anomaly.dataset import DatasetError, DatasetWarning, load_dataset


def _write(root: Path, rows: list[str], labels: dict | None = None) -> Path:
    (root / "data" / "grp").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data" / "grp" / "a.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    (root / "labels" / "labels.json").write_text(json.dumps(labels or {}))
    return root


def _load(root: Path) -> tuple[list, list[str]]:
    said: list[str] = []
    return load_dataset(root, warn=said.append), said


def test_repeated_timestamps_keep_the_last_row_and_are_named(tmp_path: Path) -> None:
    rows = [
        "2024-01-01 00:00:00,1",
        "2024-01-01 00:05:00,2",
        "2024-01-01 00:05:00,20",
        "2024-01-01 00:10:00,3",
        "2024-01-01 00:00:00,10",
    ]
    (series,), said = _load(_write(tmp_path, rows))
    assert series.values.tolist() == [10.0, 20.0, 3.0]
    assert np.all(np.diff(series.timestamps) == 300)
    assert len(said) == 1
    assert "a.csv:4: 2 row(s) repeat an earlier timestamp" in said[0]
    assert "'2024-01-01 00:05:00'" in said[0] and "kept the last row" in said[0]


def test_text_in_the_value_column_is_missing_and_named(tmp_path: Path) -> None:
    rows = ["2024-01-01 00:00:00,1", "2024-01-01 00:05:00,", "2024-01-01 00:10:00,n/a"]
    rows += ["2024-01-01 00:15:00,oops", "2024-01-01 00:20:00,4"]
    (series,), said = _load(_write(tmp_path, rows))
    assert np.isnan(series.values).tolist() == [False, True, True, True, False]
    assert said == [
        f"{tmp_path}/data/grp/a.csv:5: 1 value(s) not a number (first 'oops'); read as missing"
    ]


def test_a_clean_file_says_nothing(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:{m:02d}:00,{m}" for m in range(0, 60, 5)]
    labels = {"grp/a.csv": [["2024-01-01 00:10:00", "2024-01-01 00:20:00"]]}
    (series,), said = _load(_write(tmp_path, rows, labels))
    assert said == [] and series.window_index() == [(2, 4)]


def test_a_window_that_ends_before_it_starts_is_an_error(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:{m:02d}:00,{m}" for m in range(0, 60, 5)]
    labels = {"grp/a.csv": [["2024-01-01 00:20:00", "2024-01-01 00:10:00"]]}
    with pytest.raises(DatasetError, match=r"'grp/a.csv' window 0: ends .* before it starts"):
        _load(_write(tmp_path, rows, labels))


def test_a_window_outside_the_file_is_named_with_the_file_span(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:{m:02d}:00,{m}" for m in range(0, 60, 5)]
    labels = {"grp/a.csv": [["2023-01-01 00:10:00", "2023-01-01 00:20:00"]]}
    (series,), said = _load(_write(tmp_path, rows, labels))
    assert series.window_index() == []
    assert len(said) == 1 and "'grp/a.csv' window 0" in said[0]
    assert "holds no point of the file" in said[0]
    assert "rows from 2024-01-01 00:00:00 to 2024-01-01 00:55:00" in said[0]


def test_windows_of_a_file_must_be_a_list(tmp_path: Path) -> None:
    rows = ["2024-01-01 00:00:00,1"]
    with pytest.raises(DatasetError, match=r"'grp/a.csv': expected a list of \[start, end\]"):
        _load(_write(tmp_path, rows, {"grp/a.csv": "2024-01-01"}))


def test_without_a_callback_repairs_are_python_warnings(tmp_path: Path) -> None:
    rows = ["2024-01-01 00:00:00,1", "2024-01-01 00:00:00,2"]
    with pytest.warns(DatasetWarning, match="repeat an earlier timestamp"):
        (series,) = load_dataset(_write(tmp_path, rows))
    assert series.values.tolist() == [2.0]


def test_train_prints_the_warnings_before_refusing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["2024-01-01 00:00:00,1", "2024-01-01 00:00:00,2", "2024-01-01 00:05:00,x"]
    root = _write(tmp_path / "ds", rows)
    code = anomaly_main(["train", str(root), "--all-files", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "too little data" in err
    assert "anomaly train: warning: " in err and "repeat an earlier timestamp" in err
    assert "value(s) not a number (first 'x')" in err
