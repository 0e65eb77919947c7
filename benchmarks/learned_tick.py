"""Cost of the learned detector inside a scheduler tick, against the rules' Holt-Winters detector.

Every tick the scheduler asks each rule's detector about the newest point of its series. The
learned detector rescans only the trailing points its verdict needs (about 22 days of 5-minute
points, ``LearnedDetector.history_points``), so its cost per series is bounded; this measures
that cost and compares it with the ``holt_winters`` detector of ``modelhealth/rules``
(statsmodels' ExponentialSmoothing, fitted on its 3-day lookback at every evaluation) on the
same series in the same run.

    .venv/bin/python benchmarks/learned_tick.py [--series 100] [--days 28] [--model PATH]
        [--train-models 4]

Without ``--model`` a model is trained first on a small simulated fleet (its time is printed
but not part of the per-tick figures). Saves a bar chart of ms per series (learned vs
holt_winters) under artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelhealth.anomaly.detector import LearnedDetector
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.train import train
from modelhealth.rules.detectors.holt_winters import HoltWinters
from modelhealth.types import Series

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

STEP_S = 300
DAY = 288


def make_series(n: int, days: int, seed: int = 0) -> list[Series]:
    """``n`` daily-seasonal 5-minute series of ``days`` days, a few with a spike at the end."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    out = []
    for i in range(n):
        level, amp = rng.uniform(10, 1000), rng.uniform(0.05, 0.3)
        v = level * (1 + amp * np.sin(2 * np.pi * t / DAY + rng.uniform(0, 6.3)))
        v = v + rng.normal(0, 0.02 * level, len(t))
        if i % 10 == 0:
            v[-1] += 0.5 * level
        out.append(Series.from_values(v, step_s=STEP_S))
    return out


def time_per_series(evaluate, series: list[Series], label: str) -> tuple[float, int]:
    """Median ms per ``evaluate`` call over ``series`` and the number of alerts raised."""
    times, alerts = [], 0
    for i, s in enumerate(series, 1):
        t = time.perf_counter()
        alerts += bool(evaluate(s).anomalous)
        times.append(time.perf_counter() - t)
        if i % 25 == 0 or i == len(series):
            print(f"  {label}: {i}/{len(series)} series", file=sys.stderr, flush=True)
    return 1000 * float(np.median(times)), alerts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--series", type=int, default=100, help="series judged (default 100)")
    ap.add_argument(
        "--days",
        type=int,
        default=28,
        help="history per series, days of 5-minute points (default 28)",
    )
    ap.add_argument("--model", help="a saved learned model (default: train one first)")
    ap.add_argument(
        "--train-models", type=int, default=4,
        help="simulated models (x7 series) to train on when no --model is given (default 4)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    t = time.perf_counter()
    if args.model:
        model = LearnedModel.load(args.model)
        print(f"loaded {args.model} in {time.perf_counter() - t:.1f} s")
    else:
        print(f"training a model on a {args.train_models}-model fleet", file=sys.stderr, flush=True)
        model = train(generate_fleet(models=args.train_models, seed=7), seed=0)
        print(
            f"trained a model on a {args.train_models}-model simulated fleet "
            f"in {time.perf_counter() - t:.1f} s"
        )
    learned = LearnedDetector.from_model(model)
    peer = HoltWinters(season="1d", cycles=3)
    series = make_series(args.series, args.days)
    # Each detector gets what the evaluator fetches for it: its lookback plus the newest
    # point. The learned one is handed every day and keeps the tail its features need.
    peer_points = int(peer.lookback.total_seconds() // STEP_S) + 1
    learned.evaluate(series[0])  # first call pays one-off imports and LightGBM set-up
    ms_l, al_l = time_per_series(learned.evaluate, series, "learned")
    ms_p, al_p = time_per_series(lambda s: peer.evaluate(s.tail(peer_points)), series, "hw")
    print(f"{args.series} series x {args.days} days of 5-minute points; newest point judged")
    print(f"  learned       {ms_l:8.1f} ms/series  ({al_l} alerts; sees {args.days} days)")
    print(f"  holt_winters  {ms_p:8.1f} ms/series  ({al_p} alerts; sees its 3-day lookback)")
    print(f"  learned / holt_winters = {ms_l / max(ms_p, 1e-9):.2f}x time per series")
    per_minute = 60_000 / ms_l
    print(f"  one core judges {per_minute:,.0f} series per minute with the learned detector")
    chart = bar_chart(
        "learned_tick",
        f"Detector cost per series in a tick, {args.series} series x {args.days} days "
        "(median ms, lower is better)",
        ["learned", "holt_winters (peer)"],
        {"ms/series": [ms_l, ms_p]},
        ylabel="ms per series",
    )
    print(f"chart: {chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
