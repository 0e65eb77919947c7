"""Cross-validation of the learned detector on the TRAINING files only (never the held-out).

Usage:
    .venv/bin/python benchmarks/detection_cv.py ../shared/data/nab
    .venv/bin/python benchmarks/detection_cv.py --simulated --seeds 0,1,2

This is how every design change of the learned detector was adopted or rejected (the figures
in the docstrings of ``modelhealth/anomaly/train.py``, ``tuning.py`` and ``postprocess.py``):
the training files of ``benchmarks/detection.py``'s split are cut into ``--folds`` folds by a
hash of ``SPLIT + name``, for each of ``--splits``; each fold is scored by a model trained on
the others, with each of ``--seeds``. One line per split and seed gives pooled event F1 over
its folds; a change is worth adopting when it helps on most of these lines, since one line
moves by up to 0.2 F1 with the seed alone.

This is a cross-validation tool, not a speed benchmark, and it has no peer: it compares the
learned detector with itself across design changes. Baselines and runtimes are compared in
``benchmarks/detection.py``. Saves a bar chart of F1, precision and recall per split x seed
line under artifacts/benchmarks/.
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


def cross_validate(files: list[LabelledSeries], salt: str, seed: int, folds: int) -> EventCounts:
    """Pooled event counts of every fold, each scored by a model trained on the others."""
    groups = [fold_of(s.name, salt, folds) for s in files]
    total = EventCounts()
    for f in range(folds):
        inner = [s for s, g in zip(files, groups, strict=True) if g != f]
        held = [s for s, g in zip(files, groups, strict=True) if g == f]
        if not inner or not held:
            continue
        model = train(inner, seed=seed)
        for s in held:
            alerts = model.scan(s.timestamps, s.values).alerts
            total += event_counts(alerts, s.window_index(), warmup=warmup_points(len(alerts)))
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
    args = ap.parse_args(argv)
    if args.simulated:
        data = generate_fleet(models=args.models, seed=1)
    elif args.dataset:
        data = load_dataset(args.dataset, warn=_say_repaired)
    else:
        ap.error("give DATASET_DIR or --simulated")
    files, _ = split(data)  # the held-out files are never read here
    splits = args.splits.split(",")
    seeds = [int(v) for v in args.seeds.split(",")]
    print(
        "Cross-validation of the learned detector on training files (not a speed benchmark;"
        " no peer: baselines are compared in benchmarks/detection.py)"
    )
    print(f"{len(files)} training files, {args.folds} folds, splits {splits}, seeds {seeds}")
    f1s, lines = [], []
    t0 = time.perf_counter()
    for seed in seeds:
        for salt in splits:
            c = cross_validate(files, salt, seed, args.folds)
            f1s.append(c.f1)
            lines.append((f"{salt} s={seed}", c))
            print(
                f"split {salt:<4} seed {seed}: F1 {c.f1:.3f}  P {c.precision:.3f}"
                f" R {c.recall:.3f}  TP {c.tp} FN {c.fn} FP {c.fp}"
                f"  [{time.perf_counter() - t0:.0f}s]",
                flush=True,
            )
    print(f"mean F1 over {len(f1s)} split x seed lines: {np.mean(f1s):.3f}")
    source = "simulated" if args.simulated else Path(args.dataset).name
    chart = bar_chart(
        f"detection_cv_{source}",
        f"Learned detector, {args.folds}-fold CV on {source} training files (no peer; "
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
