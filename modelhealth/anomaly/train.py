"""Training of the learned detector, and the ``anomaly train`` command.

Three steps, all on the training files only: (1) the quantile forecaster on points
outside labelled windows, (2) the classifier on copies of those series with injected
anomalies, (3) the alert threshold and minimum duration, picked by event F1 on the
original training files and their labels (falling back to the injected copies when the
training files carry no labels).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelhealth.anomaly.classifier import AnomalyClassifier, inject
from modelhealth.anomaly.dataset import LabelledSeries, load_dataset, split
from modelhealth.anomaly.evaluation import EventCounts, event_counts, warmup_points
from modelhealth.anomaly.features import MIN_HISTORY, build_features
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.forecaster import ForecastParams, QuantileForecaster
from modelhealth.anomaly.irregularity import classifier_features, irregularity
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess, novel

Progress = Callable[[str], None]
THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)
DURATIONS = (1,)
NOVELTY = (0, 288, 576, 1152)
MAGNITUDES = (0.0, 1.0, 2.0, 4.0)


def _quiet(_: str) -> None:
    return None


def train(
    series: list[LabelledSeries],
    *,
    seed: int = 0,
    rows_per_series: int = 4000,
    copies: int = 2,
    backend: str = "lightgbm",
    params: ForecastParams | None = None,
    progress: Progress = _quiet,
) -> LearnedModel:
    """Fit forecaster, classifier and post-processing on ``series`` (the training files).

    >>> model = train(generate_fleet(models=2, points=600))  # doctest: +SKIP
    """
    if not series:
        raise ValueError("train() needs at least one series")
    rng = np.random.default_rng(seed)
    fx, fz = [], []
    for s in series:
        ff = build_features(s.timestamps, s.values)
        keep = np.flatnonzero(ff.valid & ~s.window_mask())
        if len(keep) > rows_per_series:
            keep = np.sort(rng.choice(keep, rows_per_series, replace=False))
        fx.append(ff.X[keep])
        fz.append(ff.z[keep])
    X, z = np.vstack(fx), np.concatenate(fz)
    progress(f"forecaster: {len(z)} rows from {len(series)} series ({backend})")
    forecaster = QuantileForecaster(backend=backend, params=params or ForecastParams()).fit(X, z)

    cx, cy = [], []
    for s in series:
        real = s.window_mask()
        for _ in range(copies):
            n_inj = max(4, len(s.values) // 300)
            x, lab = inject(s.values, rng, n_inj, start=MIN_HISTORY + 50)
            ff = build_features(s.timestamps, x)
            feats = classifier_features(ff, forecaster.predict(ff.X))
            keep = ff.valid & ~(real & ~lab)
            pos = np.flatnonzero(keep & lab)
            neg = np.flatnonzero(keep & ~lab)
            if len(neg) > rows_per_series:
                neg = rng.choice(neg, rows_per_series, replace=False)
            idx = np.sort(np.r_[pos, neg])
            cx.append(feats[idx])
            cy.append(lab[idx])
    Xc, yc = np.vstack(cx), np.concatenate(cy)
    progress(f"classifier: {len(yc)} rows, {int(yc.sum())} injected-anomaly points")
    classifier = AnomalyClassifier(seed=seed + 11).fit(Xc, yc)

    model = LearnedModel(forecaster=forecaster, classifier=classifier)
    labelled = [s for s in series if s.windows]
    tune_set = series if labelled else _injected_copies(series, rng)
    model.post, f1 = tune_postprocess(model, tune_set)
    progress(f"post-processing: {model.post.to_dict()} (train event F1 {f1:.3f})")
    model.info = {
        "train_files": [s.name for s in series],
        "forecast_rows": len(z),
        "classifier_rows": len(yc),
        "train_event_f1": round(f1, 4),
        "seed": seed,
    }
    return model


def _injected_copies(series: list[LabelledSeries], rng: np.random.Generator) -> list:
    out = []
    for s in series:
        x, lab = inject(s.values, rng, max(2, len(s.values) // 600), start=len(s.values) // 5)
        idx = np.flatnonzero(lab)
        spans = tuple((int(s.timestamps[i]), int(s.timestamps[i])) for i in idx)
        out.append(LabelledSeries(s.name, s.timestamps, x, spans))
    return out


def tune_postprocess(
    model: LearnedModel, series: list[LabelledSeries]
) -> tuple[PostProcess, float]:
    """Grid-search threshold x minimum duration for the best summed event F1."""
    scored = []
    for s in series:
        ff = build_features(s.timestamps, s.values)
        fc = model.forecaster.predict(ff.X)
        score, signed = irregularity(ff.z, fc)
        prob = np.where(ff.valid, model.classifier.predict_proba(classifier_features(ff, fc)), 0)
        scored.append((s, prob, signed, ff.valid, score))
    best, best_f1 = PostProcess(), -1.0
    for nov, mag in itertools.product(NOVELTY, MAGNITUDES):
        fresh = [novel(score, nov) for _, _, _, _, score in scored]
        big = [valid & (np.abs(signed) >= mag) for _, _, signed, valid, _ in scored]
        wins = [(s.window_index(), warmup_points(len(s.values))) for s, *_ in scored]
        for thr, dur in itertools.product(THRESHOLDS, DURATIONS):
            post = PostProcess(threshold=thr, min_duration=dur, min_magnitude=mag, novelty=nov)
            total = EventCounts()
            for (_, prob, *_), is_novel, ok, (win, warm) in zip(
                scored, fresh, big, wins, strict=True
            ):
                alerts = post.apply_novel((prob >= thr) & ok, is_novel)
                total += event_counts(alerts, win, warmup=warm)
            if total.f1 > best_f1:
                best, best_f1 = post, total.f1
    return best, best_f1


def anomaly_main(argv: list[str] | None = None) -> int:
    """``anomaly train DATASET_DIR --out PATH``: train on the training split and save.

    ``DATASET_DIR`` may be ``simulated`` to train on a generated fleet (no real data).
    """
    parser = argparse.ArgumentParser(prog="modelhealth anomaly")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a learned detector model")
    tr.add_argument("dataset", help="folder in NAB layout, or 'simulated'")
    tr.add_argument("--out", required=True, help="model directory to write")
    tr.add_argument("--labels", help="labels JSON (default: DATASET/labels/*.json)")
    tr.add_argument("--all-files", action="store_true", help="train on every file, no hold-out")
    tr.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.dataset == "simulated":
        data = generate_fleet(seed=args.seed)
    else:
        data = load_dataset(args.dataset, args.labels)
    train_set, held = (data, []) if args.all_files else split(data)
    print(f"training on {len(train_set)} files, holding out {len(held)}", file=sys.stderr)
    model = train(train_set, seed=args.seed, progress=lambda m: print(m, file=sys.stderr))
    model.info["held_out_files"] = [s.name for s in held]
    path = model.save(Path(args.out))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(anomaly_main())
