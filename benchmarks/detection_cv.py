"""Cross-validation of the learned detector on the TRAINING files only (never the held-out).

Usage:
    .venv/bin/python benchmarks/detection_cv.py ../shared/data/nab
    .venv/bin/python benchmarks/detection_cv.py --simulated --seeds 0,1,2
    .venv/bin/python benchmarks/detection_cv.py ../shared/data/nab --group-by category

This is how every design change of the learned detector was adopted or rejected (the figures
in the docstrings of ``modelhealth/anomaly/train.py``, ``tuning.py`` and ``postprocess.py``):
the training files of ``benchmarks/detection.py``'s split are cut into ``--folds`` folds by a
hash of ``SPLIT + name``, for each of ``--splits``; each fold is scored by a model trained on
the others, with each of ``--seeds``. One line per split and seed gives pooled event F1 over
its folds; a change is worth adopting when it helps on most of these lines, since one line
moves by up to 0.2 F1 with the seed alone.

``--group-by category`` cuts the folds by category instead, the sub-folder of the data folder
a file sits in (NAB: ``artificialNoAnomaly``, ``realTweets``...; the fleet: one per model):
leave-one-category-out, so no file of the scored category is in the training part (hash
folds leave near-twins of the same shape and labelling style there). One line per seed
(``--folds`` and ``--splits`` do not apply), each followed by the TP/FN/FP of every category;
a category with no labelled window is still scored for its false events; a file directly in
the data folder is a fold of its own (leave-one-file-out). Round 24 (``tuning.py``): the
detector of round 22 scores 0.747 on each of seeds 0, 1, 2 (P 0.705, R 0.795, TP 31 FN 8
FP 13; artificialNoAnomaly 0/0/0, artificialWithAnomaly 4/0/1, realAWSCloudwatch 7/2/5,
realAdExchange 5/2/1, realTraffic 5/3/0, realTweets 10/1/6), against 0.752 for the nine
hash lines, and it ranked every ablation of that round as the hash folds did.

This is a cross-validation tool, not a speed benchmark, and it has no peer: it compares the
learned detector with itself across design changes. Baselines and runtimes are compared in
``benchmarks/detection.py``. Saves a bar chart of F1, precision and recall per split x seed
line (per seed with ``--group-by category``) under artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelhealth.anomaly.dataset import LabelledSeries, load_dataset, split
from modelhealth.anomaly.evaluation import EventCounts, event_counts, warmup_points
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.train import train

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]


def fold_of(name: str, salt: str, folds: int) -> int:
    """The fold of a file: a fixed hash, so a split is the same on every machine."""
    return int(hashlib.sha256((salt + name).encode()).hexdigest(), 16) % folds


def category_of(name: str) -> str:
    """The NAB category of a file: the sub-folder of the data folder its name starts with
    (``realTweets/Twitter_volume_AAPL.csv`` -> ``realTweets``; the fleet's ``model_03/...``
    -> ``model_03``). A file directly in the data folder (a flat layout) has no category and
    is a group of its own, so the CV falls back to leave-one-file-out."""
    head, sep, _ = name.partition("/")
    return head if sep else name


def fold_groups(names: list[str], group_by: str, salt: str = "", folds: int = 3) -> list[int]:
    """The fold of each file: ``hash`` by :func:`fold_of` (``folds`` folds per ``salt``),
    ``category`` one fold per :func:`category_of` (numbered in sorted order of category)."""
    if group_by == "hash":
        return [fold_of(n, salt, folds) for n in names]
    if group_by != "category":
        raise ValueError(f"group_by={group_by!r}: expected hash or category")
    cats = sorted({category_of(n) for n in names})
    return [cats.index(category_of(n)) for n in names]


def cross_validate(
    files: list[LabelledSeries],
    salt: str,
    seed: int,
    folds: int,
    group_by: str = "hash",
    per_group: dict[int, EventCounts] | None = None,
) -> EventCounts:
    """Pooled event counts of every fold, each scored by a model trained on the others
    (folds by :func:`fold_groups`); ``per_group``, if given, receives each fold's counts.
    A fold without a labelled window (``artificialNoAnomaly``) still counts its false events."""
    groups = fold_groups([s.name for s in files], group_by, salt, folds)
    total = EventCounts()
    for f in sorted(set(groups)):
        inner = [s for s, g in zip(files, groups, strict=True) if g != f]
        held = [s for s, g in zip(files, groups, strict=True) if g == f]
        if not inner or not held:
            continue
        model = train(inner, seed=seed)
        fold = EventCounts()
        for s in held:
            alerts = model.scan(s.timestamps, s.values).alerts
            fold += event_counts(alerts, s.window_index(), warmup=warmup_points(len(alerts)))
        total += fold
        if per_group is not None:
            per_group[f] = fold
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?", help="folder in NAB layout")
    ap.add_argument("--simulated", action="store_true", help="use the generated fleet")
    ap.add_argument(
        "--models", type=int, default=24, help="simulated models (x7 series each; default 24)"
    )
    ap.add_argument("--folds", type=int, default=3, help="folds per split (default 3)")
    ap.add_argument(
        "--splits", default="cv:,b:,c:", help="comma-separated fold-hash salts (default cv:,b:,c:)"
    )
    ap.add_argument(
        "--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)"
    )
    ap.add_argument(
        "--group-by",
        choices=("hash", "category"),
        default="hash",
        help="folds by a hash of salt + file name (default; --folds and --splits apply), or"
        " one fold per category, the sub-folder of the data folder (leave-one-category-out;"
        " one line per seed; a file outside any sub-folder is a fold of its own)",
    )
    args = ap.parse_args(argv)
    if args.simulated:
        data = generate_fleet(models=args.models, seed=1)
    elif args.dataset:
        data = load_dataset(args.dataset, warn=_say_repaired)
    else:
        ap.error("give DATASET_DIR or --simulated")
    files, _ = split(data)  # the held-out files are never read here
    by_category = args.group_by == "category"
    splits = ["category"] if by_category else args.splits.split(",")
    seeds = [int(v) for v in args.seeds.split(",")]
    print(
        "Cross-validation of the learned detector on training files (not a speed benchmark;"
        " no peer: baselines are compared in benchmarks/detection.py)"
    )
    if by_category:
        cats = sorted({category_of(s.name) for s in files})
        print(f"{len(files)} training files, one fold per category ({len(cats)}), seeds {seeds}")
    else:
        print(f"{len(files)} training files, {args.folds} folds, splits {splits}, seeds {seeds}")
    f1s, lines = [], []
    t0 = time.perf_counter()
    for seed in seeds:
        for salt in splits:
            per: dict[int, EventCounts] = {}
            c = cross_validate(files, salt, seed, args.folds, args.group_by, per)
            f1s.append(c.f1)
            lines.append((f"{salt} s={seed}", c))
            print(
                f"split {salt:<4} seed {seed}: F1 {c.f1:.3f}  P {c.precision:.3f}"
                f" R {c.recall:.3f}  TP {c.tp} FN {c.fn} FP {c.fp}"
                f"  [{time.perf_counter() - t0:.0f}s]",
                flush=True,
            )
            if by_category:
                for g, fold in sorted(per.items()):
                    print(f"    {cats[g]:<24} TP {fold.tp:3d} FN {fold.fn:3d} FP {fold.fp:3d}")
    what = "seed" if by_category else "split x seed"
    print(f"mean F1 over {len(f1s)} {what} lines: {np.mean(f1s):.3f}")
    source = "simulated" if args.simulated else Path(args.dataset).name
    folds = "leave-one-category-out" if by_category else f"{args.folds}-fold"
    chart = bar_chart(
        f"detection_cv_{source}" + ("_category" if by_category else ""),
        f"Learned detector, {folds} CV on {source} training files (no peer; "
        f"mean F1 {np.mean(f1s):.3f})",
        [label for label, _ in lines],
        {
            "F1": [c.f1 for _, c in lines],
            "precision": [c.precision for _, c in lines],
            "recall": [c.recall for _, c in lines],
        },
        ylabel="event-level score",
    )
    print(f"chart: {chart}")
    return 0


def _say_repaired(message: str) -> None:
    """The loader's repairs (repeated timestamps, text values) on stderr, beside the table."""
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
