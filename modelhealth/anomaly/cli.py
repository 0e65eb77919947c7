"""``modelhealth anomaly train|export``: train the learned detector, and export a store's
health series in the NAB layout to train it on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelhealth.rules.cli import add_store_options, open_store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelhealth anomaly", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a learned detector model")
    tr.add_argument("dataset", help="folder in NAB layout, or 'simulated'")
    tr.add_argument("--out", required=True, help="model directory to write")
    tr.add_argument("--labels", help="labels JSON (default: DATASET/labels/*.json)")
    tr.add_argument("--all-files", action="store_true", help="train on every file, no hold-out")
    tr.add_argument(
        "--seed", type=int, default=0, help="random seed (same data and seed: same model)"
    )
    tr.add_argument(
        "--no-gapped-copies",
        action="store_true",
        help="do not also train the forecaster on copies of each series that miss the same"
        " hours every day (for fleets where every model is called around the clock)",
    )
    ex = sub.add_parser("export", help="write the store's metric series as a NAB-layout folder")
    ex.add_argument("--metric", action="append", required=True, help="e.g. latency.p99 (repeat)")
    ex.add_argument("--model", action="append", help="only these models (repeat; default all)")
    ex.add_argument("--since", default="30d", help="history to export (default 30d)")
    ex.add_argument("--step", default="5m", help="bucket, as a rule's window (default 5m)")
    ex.add_argument("--out", required=True, help="folder to write data/ and labels/ into")
    add_store_options(ex)
    return parser


def anomaly_main(argv: list[str] | None = None) -> int:
    """``anomaly train DATASET_DIR --out PATH``: train on the training split and save
    (``DATASET_DIR`` may be ``simulated``: a generated fleet, no real data).
    ``anomaly export --db FILE --metric latency.p99 --out DIR``: the store's series."""
    args = _parser().parse_args(argv)
    if args.command == "export":
        return _export(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    """Train and save; a bad dataset or --out is one line on stderr and exit 1, a dataset
    with nothing to train on (all files held out, too few points) one line and exit 2.

    DatasetError messages already name the file and what is wrong with it, so a traceback
    only hides them."""
    from modelhealth.anomaly import learn_extra_problem

    problem = learn_extra_problem()  # before importing the modules that need the extra
    if problem:
        print(f"anomaly train: {problem}", file=sys.stderr)
        return 2
    from modelhealth.anomaly.dataset import DatasetError, load_dataset, split
    from modelhealth.anomaly.fleet import generate_fleet
    from modelhealth.anomaly.train import train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"anomaly train: --out {out} is a file, not a model directory", file=sys.stderr)
        return 1
    try:
        if args.dataset == "simulated":
            data = generate_fleet(seed=args.seed)
        else:
            data = load_dataset(
                args.dataset,
                args.labels,
                warn=lambda m: print(f"anomaly train: warning: {m}", file=sys.stderr),
            )
        train_set, held = (data, []) if args.all_files else split(data)
        print(f"training on {len(train_set)} files, holding out {len(held)}", file=sys.stderr)
        why = _untrainable(args.dataset, train_set, held)
        if why:
            print(f"anomaly train: {why}", file=sys.stderr)
            return 2
        model = train(
            train_set,
            seed=args.seed,
            gapped_copies=not args.no_gapped_copies,
            progress=lambda m: print(m, file=sys.stderr),
        )
    except DatasetError as exc:
        print(f"anomaly train: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # LightGBM's own checks on data the ones above let through
        if type(exc).__name__ != "LightGBMError":
            raise
        print(f"anomaly train: LightGBM cannot train on {args.dataset}: {exc}", file=sys.stderr)
        return 2
    model.info["held_out_files"] = [s.name for s in held]
    try:
        path = model.save(out)
    except OSError as exc:
        print(f"anomaly train: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"saved {path}")
    return 0


def _untrainable(dataset: str, train_set: list, held: list) -> str | None:
    """Why ``train_set`` cannot be trained on (one line: what is wrong, what to do), or None.

    ``train`` needs at least one series, and a point is only learned from once
    ``features.MIN_HISTORY`` points precede it (LightGBM aborted on zero rows)."""
    import numpy as np

    from modelhealth.anomaly.features import MIN_HISTORY

    if not train_set:
        return (
            f"no file to train on: {dataset} has {len(held)} file(s) and the hold-out split"
            " keeps all of them for evaluation; pass --all-files to train on every file"
        )
    longest = max(int(np.isfinite(s.values).sum()) for s in train_set)
    if longest <= MIN_HISTORY:
        return (
            f"too little data: the longest training file has {longest} finite point(s);"
            f" training needs a file with at least {MIN_HISTORY + 1} (a useful model needs"
            " days of points: export more history or add longer files)"
        )
    return None


def _export(args: argparse.Namespace) -> int:
    from modelhealth.anomaly.export import (
        check_metric,
        describe,
        export_series,
        left_over,
        too_short,
    )
    from modelhealth.rules.durations import parse_duration

    try:
        metrics = list(dict.fromkeys(check_metric(m) for m in args.metric))
        since, step = parse_duration(args.since), parse_duration(args.step)
    except ValueError as exc:
        print(f"anomaly export: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"anomaly export: --out {out} is a file, not a folder", file=sys.stderr)
        return 1
    store = open_store(args, read_only=True, prog="anomaly export")
    try:
        span = store.time_range()
        if span is None:
            print("anomaly export: the store holds no rows", file=sys.stderr)
            return 1
        end_ms = span[1] + 1
        step_ms = int(step.total_seconds() * 1000)
        start_ms = end_ms - int(since.total_seconds() * 1000)
        written = export_series(
            store,
            metrics,
            start_ms,
            end_ms,
            step_ms,
            out,
            models=args.model,
            progress=lambda m: print(m, file=sys.stderr),
        )
    except ValueError as exc:
        print(f"anomaly export: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"anomaly export: cannot write {exc.filename or out}: {exc.strerror}", file=sys.stderr
        )
        return 1
    finally:
        store.close()
    if not written:
        history_ms = end_ms - max(start_ms, span[0])  # what the store has of --since
        print(f"anomaly export: wrote no series: {too_short(step_ms, history_ms)}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} series to {out / 'data'} {describe(written)}")
    stale = left_over(out, written)
    if stale:
        print(
            f"note: {out / 'data'} also holds {len(stale)} CSV file(s) this export did not write"
            f" (e.g. {stale[0]}); anomaly train reads every file there: delete them, or"
            " export to a new folder"
        )
    print(f"next: modelhealth anomaly train {args.out} --all-files --out models/NAME")
    return 0


if __name__ == "__main__":
    raise SystemExit(anomaly_main())
