"""benchmarks/detection_cv.py --group-by category: leave-one-NAB-category-out folds."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import benchmarks.detection_cv as dcv
from modelhealth.anomaly.dataset import LabelledSeries, load_dataset

NAMES = [
    "realTweets/Twitter_volume_AAPL.csv",
    "artificialNoAnomaly/art_noisy.csv",
    "realTweets/Twitter_volume_UPS.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "realTweets/Twitter_volume_CRM.csv",
]


def _write(root: Path, names: list[str], windows: dict[str, list[list[str]]]) -> None:
    stamps = pd.date_range("2024-01-01", periods=50, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("timestamp,value\n" + "".join(f"{t},1.0\n" for t in stamps))
    (root / "labels.json").write_text(json.dumps(windows))


def test_files_of_one_category_share_one_fold_and_categories_never_share():
    groups = dcv.fold_groups(NAMES, "category")
    by_cat: dict[str, set[int]] = {}
    for name, g in zip(NAMES, groups, strict=True):
        by_cat.setdefault(name.split("/")[0], set()).add(g)
    assert all(len(gs) == 1 for gs in by_cat.values())
    assert len({next(iter(gs)) for gs in by_cat.values()}) == len(by_cat) == 3
    # The same files in another order land in the same category folds.
    again = dict(zip(NAMES[::-1], dcv.fold_groups(NAMES[::-1], "category"), strict=True))
    assert [again[n] for n in NAMES] == groups


def test_hash_folds_are_unchanged_by_default():
    assert dcv.fold_groups(NAMES, "hash", "b:", 3) == [dcv.fold_of(n, "b:", 3) for n in NAMES]
    with pytest.raises(ValueError, match="group_by"):
        dcv.fold_groups(NAMES, "model")


def test_category_comes_from_the_loaders_names_and_a_flat_folder_is_one_file_per_fold(
    tmp_path: Path,
):
    nab = tmp_path / "nab"
    _write(nab / "data", NAMES[:3], {})
    loaded = load_dataset(nab)
    assert sorted(dcv.category_of(s.name) for s in loaded) == [
        "artificialNoAnomaly",
        "realTweets",
        "realTweets",
    ]
    flat = tmp_path / "flat"
    _write(flat, ["a.csv", "b.csv", "c.csv"], {})
    names = [s.name for s in load_dataset(flat)]
    assert names == ["a.csv", "b.csv", "c.csv"]
    assert sorted(dcv.fold_groups(names, "category")) == [0, 1, 2]  # leave-one-file-out


def test_cross_validate_holds_out_whole_categories_and_scores_unlabelled_ones(monkeypatch):
    n = 40
    ts = np.arange(n, dtype=np.int64) * 300
    files = [
        LabelledSeries(name, ts, np.ones(n), ((ts[30], ts[32]),) if "real" in name else ())
        for name in NAMES
    ]
    trained_on: list[set[str]] = []

    def fake_train(inner: list[LabelledSeries], seed: int = 0) -> SimpleNamespace:
        trained_on.append({dcv.category_of(s.name) for s in inner})
        alerts = np.zeros(n, dtype=bool)
        alerts[[10, 31]] = True  # one false event, and the window (if any) caught

        def scan(_t: np.ndarray, _v: np.ndarray) -> SimpleNamespace:
            return SimpleNamespace(alerts=alerts)

        return SimpleNamespace(scan=scan)

    monkeypatch.setattr(dcv, "train", fake_train)
    per: dict = {}
    total = dcv.cross_validate(files, "", 0, 3, "category", per)
    cats = sorted({dcv.category_of(n) for n in NAMES})
    assert len(trained_on) == len(per) == 3
    for g, inner in enumerate(trained_on):
        assert cats[g] not in inner and len(inner) == 2
    no_anomaly = per[cats.index("artificialNoAnomaly")]
    assert (no_anomaly.tp, no_anomaly.fn, no_anomaly.fp) == (0, 0, 4)  # scored for false events
    assert (per[cats.index("realTweets")].tp, per[cats.index("realTweets")].fp) == (3, 3)
    assert (total.tp, total.fn, total.fp) == (4, 0, 8)
