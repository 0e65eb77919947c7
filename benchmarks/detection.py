"""Detection-quality harness: event-level P/R/F1 and runtime, ours vs baselines, held-out files.

Usage:
    .venv/bin/python benchmarks/detection.py ../shared/data/nab
    .venv/bin/python benchmarks/detection.py --simulated
    .venv/bin/python benchmarks/detection.py ../shared/data/nab --dev   # tune on train only
    .venv/bin/python benchmarks/detection.py ../shared/data/nab --compare-libraries
    .venv/bin/python benchmarks/detection.py --simulated --nightly-gaps  # low-traffic models

Files are split by a fixed hash of their name (modelhealth.anomaly.dataset.is_held_out).
Every detector (ours and the baselines) learns only from the training files: our model is
trained on them, and every detector's alert threshold is picked by event F1 on them. The
table reports the held-out files. ``--dev`` instead splits the *training* files again and
reports on that dev part, for design work that never looks at the held-out files.
The learned detector is trained once per ``--seeds`` entry (default three): its F1 moves
with the training seed, so the goal lines compare the mean over seeds with the baselines.
``--nightly-gaps`` takes the same hours of every day out of each held-out series (the store
has no bucket where a model got no calls), training files left whole: how detectors trained
on full-traffic series treat a model nobody calls at night.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detection_baselines import BASELINES, THRESHOLDS

from modelhealth.anomaly.dataset import (
    LabelledSeries,
    is_held_out,
    load_dataset,
    split,
)
from modelhealth.anomaly.evaluation import (
    MERGE_GAP,
    EventCounts,
    event_counts,
    paired_bootstrap,
    rule_text,
    warmup_points,
)
from modelhealth.anomaly.features import build_features, infer_period
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.forecaster import ForecastParams, QuantileForecaster, pinball
from modelhealth.anomaly.model import Scan
from modelhealth.anomaly.postprocess import RULES
from modelhealth.anomaly.train import nightly_gap, train

try:
    from benchmarks.plotting import bar_chart, series_gallery
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart, series_gallery  # type: ignore[no-redef]


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


T0 = time.perf_counter()


def import_libraries() -> float:
    """Import every detector's libraries before anything is timed, and return the seconds.

    A process imports a library once; timed inside the first detector that needs it, the
    import (about a second each for LightGBM and statsmodels here) would be charged to
    whichever detector runs first and spared the ones after it.
    """
    t = time.perf_counter()
    import lightgbm  # noqa: F401
    import statsmodels.tsa.arima.model
    import statsmodels.tsa.holtwinters  # noqa: F401

    return time.perf_counter() - t


def score_all(
    fn: Callable[[LabelledSeries], np.ndarray], files: list[LabelledSeries], label: str
) -> tuple[list[np.ndarray], float]:
    t = time.perf_counter()
    out = []
    for i, s in enumerate(files, 1):
        out.append(fn(s))
        if i % 5 == 0 or i == len(files):
            log(f"{label}: {i}/{len(files)} files")
    return out, time.perf_counter() - t


def counts(
    masks: list[np.ndarray], files: list[LabelledSeries], gap: int
) -> tuple[EventCounts, list[EventCounts]]:
    per = [
        event_counts(m, s.window_index(), gap, warmup_points(len(m)))
        for m, s in zip(masks, files, strict=True)
    ]
    total = EventCounts()
    for c in per:
        total += c
    return total, per


def run_baseline(
    name: str, tr: list[LabelledSeries], ho: list[LabelledSeries], gap: int
) -> tuple[EventCounts, float, float, str, list[EventCounts]]:
    fn = BASELINES[name]

    def scores(s: LabelledSeries) -> np.ndarray:
        return fn(s.values, warmup_points(len(s.values)), infer_period(s.timestamps))

    tr_scores, t_train = score_all(scores, tr, f"{name} (train files)")
    t = time.perf_counter()
    best_k, best_f1 = THRESHOLDS[0], -1.0
    for k in THRESHOLDS:
        f1 = counts([sc >= k for sc in tr_scores], tr, gap)[0].f1
        if f1 > best_f1:
            best_k, best_f1 = k, f1
    t_train += time.perf_counter() - t
    ho_scores, t_score = score_all(scores, ho, f"{name} (held-out files)")
    total, per = counts([sc >= best_k for sc in ho_scores], ho, gap)
    return total, t_train, t_score, f"k={best_k:g} (train F1 {best_f1:.3f})", per


def run_learned(
    tr: list[LabelledSeries],
    ho: list[LabelledSeries],
    gap: int,
    seed: int = 0,
    save: str | None = None,
    by_rule: dict[str, EventCounts] | None = None,
    keep: list[Scan] | None = None,
) -> tuple[EventCounts, float, float, str, list[EventCounts]]:
    """Train on ``tr``, scan ``ho``; ``by_rule``, if given, receives each alert rule's own
    held-out counts (how many windows and false events the classifier, the Holt-Winters
    rule and the two discord rules would have alone) and ``keep`` the held-out scans."""
    t = time.perf_counter()
    model = train(tr, seed=seed, progress=lambda m: log(f"learned seed {seed}: {m}"))
    t_train = time.perf_counter() - t
    if save:
        log(f"learned seed {seed}: saved {model.save(save)}")

    def scan(s: LabelledSeries) -> Scan:
        return model.scan(s.timestamps, s.values)

    scans, t_score = score_all(scan, ho, "learned (held-out files)")
    total, per = counts([sc.alerts for sc in scans], ho, gap)
    if keep is not None:
        keep.extend(scans)
    if by_rule is not None:
        for rule in RULES:
            if all(rule in sc.fired for sc in scans):
                by_rule[rule] = counts([sc.fired[rule] for sc in scans], ho, gap)[0]
    p = model.post
    note = f"p>={p.threshold:g} novelty={p.novelty} magnitude>={p.min_magnitude:g}"
    note += f" hw>={p.hw_threshold:g}" if p.hw_threshold > 0 else " hw off"
    note += f" burst_ref={p.burst_ref:g}" if p.burst_ref > 0 else ""
    note += f" discord>={p.discord_threshold:g}" if p.discord_threshold > 0 else ""
    note += f" long_discord>={p.long_discord_threshold:g}" if p.long_discord_threshold > 0 else ""
    return total, t_train, t_score, note, per


def compare_libraries(tr: list[LabelledSeries], ho: list[LabelledSeries]) -> None:
    """Time and pinball loss of LightGBM vs sklearn HGB quantile models on the same rows."""
    rng = np.random.default_rng(0)

    def rows(files: list[LabelledSeries]) -> tuple[np.ndarray, np.ndarray]:
        xs, zs = [], []
        for s in files:
            ff = build_features(s.timestamps, s.values)
            keep = np.flatnonzero(ff.valid & ~s.window_mask())
            keep = np.sort(rng.choice(keep, min(len(keep), 4000), replace=False))
            xs.append(ff.X[keep])
            zs.append(np.clip(ff.z[keep], -20, 20))
        return np.vstack(xs), np.concatenate(zs)

    Xt, zt = rows(tr)
    Xh, zh = rows(ho)
    print(f"\nLibrary comparison: {len(zt)} train rows, {len(zh)} held-out rows, 2 threads")
    print(
        f"{'backend':<10} {'fit s':>7} {'predict s':>10} {'pinball@.02':>12} {'@.5':>8} {'@.98':>8}"
    )
    for backend in ("lightgbm", "sklearn"):
        fc = QuantileForecaster(backend=backend, params=ForecastParams())
        t = time.perf_counter()
        fc.fit(Xt, zt)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        pred = fc.predict(Xh)
        t_pred = time.perf_counter() - t
        losses = [pinball(zh, q, a) for q, a in ((pred.lower, 0.02), (pred.median, 0.5))]
        losses.append(pinball(zh, pred.upper, 0.98))
        print(
            f"{backend:<10} {t_fit:7.2f} {t_pred:10.3f} {losses[0]:12.4f} {losses[1]:8.4f}"
            f" {losses[2]:8.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?", help="folder in NAB layout (data/**.csv + labels/*.json)")
    ap.add_argument("--labels", help="labels JSON (default: DATASET/labels/*.json)")
    ap.add_argument("--simulated", action="store_true", help="use a generated model-health fleet")
    ap.add_argument(
        "--models", type=int, default=24, help="simulated models (x7 series each; default 24)"
    )
    ap.add_argument("--merge-gap", type=int, default=MERGE_GAP)
    ap.add_argument("--dev", action="store_true", help="report on a dev split of train files")
    ap.add_argument("--compare-libraries", action="store_true")
    ap.add_argument("--only", help="comma-separated detectors to run (default: all)")
    ap.add_argument("--save-model", help="also save the learned model of the first seed here")
    ap.add_argument(
        "--gallery", type=int, default=12, help="held-out files to plot (misses first; 0: none)"
    )
    ap.add_argument(
        "--seeds", default="0,1,2", help="training seeds of the learned detector (default 0,1,2)"
    )
    ap.add_argument(
        "--nightly-gaps",
        action="store_true",
        help="drop the same 3-8 hours of every day from each held-out series (a model nobody"
        " calls at night; hours drawn from a hash of the file name); training files stay whole",
    )
    args = ap.parse_args(argv)
    if args.simulated:
        data = generate_fleet(models=args.models, seed=1)
        source = f"simulated fleet ({args.models} models, {len(data)} series)"
    elif args.dataset:
        data = load_dataset(args.dataset, args.labels, warn=_say_repaired)
        source = args.dataset
    else:
        ap.error("give DATASET_DIR or --simulated")
    tr, ho = split(data)
    if args.dev:
        ho = [s for s in tr if is_held_out("dev:" + s.name, 0.4)]
        tr = [s for s in tr if not is_held_out("dev:" + s.name, 0.4)]
    if args.nightly_gaps:
        ho = with_nightly_gaps(ho)
        source += ", each held-out series without the same 3-8 hours of every day"
    print(f"Dataset: {source}")
    print(f"Split ({'DEV: both parts are training files' if args.dev else 'by sha256(name)'}):")
    for label, files in (("train", tr), ("held-out", ho)):
        n_win = sum(len(s.windows) for s in files)
        print(f"  {label} ({len(files)} files, {n_win} windows):")
        for s in files:
            print(f"    {s.name}  points={len(s.values)} windows={len(s.windows)}")
    print(rule_text(args.merge_gap))
    if args.compare_libraries:
        compare_libraries(tr, ho)
        return 0
    only = set(args.only.split(",")) if args.only else None
    print(f"Library imports (LightGBM, statsmodels), before timing: {import_libraries():.1f} s")
    rows = []
    seeds = [int(v) for v in args.seeds.split(",")]
    if only is None or "learned" in only:
        per_seed = []
        first_by_rule: dict[str, EventCounts] = {}
        first_scans: list[Scan] = []
        for seed in seeds:
            save = args.save_model if seed == seeds[0] else None
            first = seed == seeds[0]
            total, t_tr, t_sc, note, per = run_learned(
                tr,
                ho,
                args.merge_gap,
                seed,
                save,
                first_by_rule if first else None,
                first_scans if first else None,
            )
            rows.append((f"learned s={seed}", total, t_tr, t_sc, note, per))
            per_seed.append(per)
        print(f"\nPer held-out file (learned, seeds {args.seeds}): TP FN FP per seed")
        for i, s in enumerate(ho):
            cells = "  ".join(f"{p[i].tp:2d} {p[i].fn:2d} {p[i].fp:2d}" for p in per_seed)
            print(f"  {s.name:<55} {cells}")
        print(f"\nEach alert rule of the learned detector alone (seed {seeds[0]}, held-out):")
        for rule, c in first_by_rule.items():
            print(f"  {rule:<14} TP {c.tp:3d}  FN {c.fn:3d}  FP {c.fp:3d}  F1 {c.f1:.3f}")
        name = run_name(args)
        shown = gallery(name, ho, first_scans, per_seed[0], args.gallery)
        if shown is not None:
            print(f"gallery: {shown}")
    for name in BASELINES:
        if only is None or name in only:
            rows.append((name, *run_baseline(name, tr, ho, args.merge_gap)))
    print(f"\nHeld-out results ({len(ho)} files, {sum(len(s.windows) for s in ho)} windows):")
    head = f"{'detector':<16} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FN':>4} {'FP':>4}"
    print(head + f" {'train s':>8} {'score s':>8} {'total s':>8}  chosen on train files")
    for name, c, t_tr, t_sc, note, _ in rows:
        print(
            f"{name:<16} {c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.tp:4d} {c.fn:4d}"
            f" {c.fp:4d} {t_tr:8.1f} {t_sc:8.1f} {t_tr + t_sc:8.1f}  {note}"
        )
    summarise(rows)
    if rows:
        plot(rows, run_name(args, dev=False), args.dev)
    return 0


def run_name(args: argparse.Namespace, dev: bool = True) -> str:
    """The dataset's name in chart file names, so runs with other options keep their own."""
    name = "simulated" if args.simulated else Path(args.dataset).name
    if args.nightly_gaps:
        name += "-nightly-gaps"
    return name + ("-dev" if dev and args.dev else "")


def with_nightly_gaps(data: list[LabelledSeries]) -> list[LabelledSeries]:
    """Each series without the same hours of every day (``train.nightly_gap``, the hours
    drawn from a hash of its name, which it keeps). Series without a daily cycle or too short
    for one are kept whole."""
    out = []
    for s in data:
        seed = int(hashlib.sha256(("gaps:" + s.name).encode()).hexdigest(), 16) % 2**32
        gapped = nightly_gap(s, np.random.default_rng(seed))
        out.append(s if gapped is None else dataclasses.replace(gapped, name=s.name))
    return out


Row = tuple[str, EventCounts, float, float, str, list[EventCounts]]
"""detector, held-out counts, train s, score s, what was chosen on train files, per-file counts"""


def summarise(rows: list[Row]) -> None:
    """The learned detector's F1 and runtime over its seeds, against the baselines.

    Training samples rows, injected anomalies and folds at random, and on a few dozen
    windows that alone moves event F1 by a lot; one seed's figure would say more about the
    seed than about the method, so the goal lines use the mean over seeds.
    """
    ours = [r for r in rows if r[0].startswith("learned")]
    others = [r for r in rows if not r[0].startswith("learned")]
    if not ours:
        return
    f1s = np.array([r[1].f1 for r in ours])
    runtime = float(np.mean([r[2] + r[3] for r in ours]))
    print(
        f"learned F1 over {len(ours)} seed(s): mean {f1s.mean():.3f}, min {f1s.min():.3f},"
        f" max {f1s.max():.3f}; mean runtime {runtime:.1f} s"
    )
    by = {r[0]: r for r in others}
    if "arima" in by:
        ar = by["arima"]
        ratio = runtime / max(ar[2] + ar[3], 1e-9)
        print(f"learned total runtime (mean over seeds) / ARIMA total runtime = {ratio:.2f}")
    if others:
        best = max(others, key=lambda r: r[1].f1)
        print(f"learned mean F1 - best baseline F1 ({best[0]}) = {f1s.mean() - best[1].f1:+.3f}")
    if not others:  # nothing to compare with (e.g. --only learned)
        return
    print(
        f"Paired bootstrap over the {len(ours[0][5])} held-out files (5000 resamples of files,"
        " learned = mean over seeds): 90% interval of F1(learned) - F1(baseline), and the"
        " share of resamples where learned is higher"
    )
    for r in others:
        lo, hi, share = paired_bootstrap([o[5] for o in ours], r[5])
        print(f"  vs {r[0]:<14} [{lo:+.3f}, {hi:+.3f}]  learned higher in {share:.0%}")


def gallery(
    source: str, ho: list[LabelledSeries], scans: list[Scan], per: list[EventCounts], n: int
) -> Path | None:
    """The first seed's alerts on up to ``n`` held-out files, those with the most missed
    windows and false events first: where the detector goes wrong, at a glance."""
    if n <= 0 or not scans:
        return None
    order = sorted(range(len(ho)), key=lambda i: (-(per[i].fn + per[i].fp), ho[i].name))[:n]
    panels = []
    for i in order:
        s, sc, c = ho[i], scans[i], per[i]
        alerts = {rule: np.flatnonzero(sc.fired[rule]) for rule in RULES if rule in sc.fired}
        label = f"{s.name}  TP {c.tp} FN {c.fn} FP {c.fp}"
        panels.append((label, s.values, s.window_index(), alerts))
    return series_gallery(
        f"detection_{source}_held-out_gallery",
        f"Learned detector on held-out {source} files (dots: alerts by rule; green: windows)",
        panels,
    )


def plot(rows: list[Row], source: str, dev: bool) -> None:
    """Two charts per run: P/R/F1 per detector, and train + score seconds per detector."""
    part = "dev" if dev else "held-out"
    labels = [r[0] for r in rows]
    quality = bar_chart(
        f"detection_{source}_{part}_quality",
        f"Event-level quality on {source} {part} files (higher is better)",
        labels,
        {
            "precision": [r[1].precision for r in rows],
            "recall": [r[1].recall for r in rows],
            "F1": [r[1].f1 for r in rows],
        },
        ylabel="score",
    )
    runtime = bar_chart(
        f"detection_{source}_{part}_runtime",
        f"Runtime on {source} (train + score, seconds, lower is better)",
        labels,
        {
            "train s": [r[2] for r in rows],
            "score s": [r[3] for r in rows],
            "total s": [r[2] + r[3] for r in rows],
        },
        ylabel="seconds",
    )
    print(f"charts: {quality} {runtime}")


def _say_repaired(message: str) -> None:
    """The loader's repairs (repeated timestamps, text values) on stderr, beside the table."""
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
