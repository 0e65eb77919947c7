"""Labelled series in the NAB layout, and the deterministic train/held-out split by file.

Layout: ``ROOT/data/<group>/<name>.csv`` (columns ``timestamp,value``) and
``ROOT/labels/*.json`` mapping ``<group>/<name>.csv`` to ``[[start, end], ...]`` windows.
A flat ``ROOT/*.csv`` with one labels JSON beside it is accepted too.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.errors import ModelHealthError


class DatasetError(ModelHealthError, ValueError):
    """A dataset folder or labels file that does not follow the NAB layout."""


class DatasetWarning(UserWarning):
    """Data the loader repaired (repeated timestamps, text values) or a label it cannot place."""


@dataclass(frozen=True)
class LabelledSeries:
    """One series with its anomaly windows as inclusive epoch-second ranges."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: tuple[tuple[int, int], ...] = field(default=())

    def window_index(self) -> list[tuple[int, int]]:
        """Windows as inclusive index ranges (empty windows dropped)."""
        out = []
        for start, end in self.windows:
            a = int(np.searchsorted(self.timestamps, start, side="left"))
            b = int(np.searchsorted(self.timestamps, end, side="right")) - 1
            if b >= a:
                out.append((a, b))
        return out

    def window_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.values), dtype=bool)
        for a, b in self.window_index():
            mask[a : b + 1] = True
        return mask


def _epoch(text: str, where: str) -> int:
    try:
        return int(pd.Timestamp(text, tz="UTC").timestamp())
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{where}: cannot parse timestamp {text!r}") from exc


def _read_csv(path: Path, warn: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds and values of one file, in time order, one value per timestamp.

    What it repairs it says through ``warn`` (file, first line, count): text where a number
    belongs is read as missing, and of repeated timestamps the last row is kept. Both
    detectors and the harness treat consecutive points as consecutive buckets, so a
    duplicate would otherwise be a bucket of its own and shift every season after it."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a CSV file: {exc}") from exc
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise DatasetError(
            f"{path}:1: header has columns {list(frame.columns)}, expected 'timestamp,value'"
        )
    ts = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    bad = np.flatnonzero(ts.isna().to_numpy())
    if len(bad):
        line = int(bad[0]) + 2
        raise DatasetError(f"{path}:{line}: timestamp {frame['timestamp'].iloc[bad[0]]!r}")
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
    _warn_unreadable(path, frame["value"], values, warn)
    epoch = (ts.astype("int64") // 10**9).to_numpy()
    order = np.argsort(epoch, kind="stable")
    epoch, values = epoch[order], values[order]
    repeated = np.flatnonzero(epoch[1:] == epoch[:-1])  # each row whose successor repeats it
    if len(repeated):
        first = int(order[repeated + 1].min()) + 2  # the repeat nearest the file's top
        warn(
            f"{path}:{first}: {len(repeated)} row(s) repeat an earlier timestamp (first"
            f" {frame['timestamp'].iloc[first - 2]!r}); kept the last row of each timestamp"
        )
        keep = np.append(epoch[1:] != epoch[:-1], True)
        epoch, values = epoch[keep], values[keep]
    return epoch, values


def _warn_unreadable(
    path: Path, raw: pd.Series, values: np.ndarray, warn: Callable[[str], None]
) -> None:
    """Name the values that are text but not a number (an empty cell is simply missing)."""
    if not np.isnan(values).any():
        return
    text = raw.astype("string").str.strip()
    unreadable = np.flatnonzero(
        np.isnan(values) & text.notna().to_numpy() & (text != "").to_numpy()
    )
    unreadable = [i for i in unreadable if text.iloc[i].lower() not in {"nan", "null", "none"}]
    if unreadable:
        warn(
            f"{path}:{unreadable[0] + 2}: {len(unreadable)} value(s) not a number (first"
            f" {raw.iloc[unreadable[0]]!r}); read as missing"
        )


def _spans(
    pairs: object, name: str, label_path: Path | None, ts: np.ndarray, warn: Callable[[str], None]
) -> tuple[tuple[int, int], ...]:
    """A file's labelled windows as epoch-second pairs; a window that ends before it starts
    is an error, one that holds no point of the file a warning (a wrong year or time zone
    would otherwise silently drop the anomaly from training and scoring)."""
    if not isinstance(pairs, list):
        raise DatasetError(
            f"{label_path}: {name!r}: expected a list of [start, end], got {pairs!r}"
        )
    spans = []
    for i, pair in enumerate(pairs):
        where = f"{label_path}: {name!r} window {i}"
        if not isinstance(pair, list) or len(pair) != 2:
            raise DatasetError(f"{where}: expected [start, end], got {pair!r}")
        start, end = _epoch(pair[0], where), _epoch(pair[1], where)
        if end < start:
            raise DatasetError(f"{where}: ends ({pair[1]}) before it starts ({pair[0]})")
        inside = np.searchsorted(ts, end, side="right") - np.searchsorted(ts, start, side="left")
        if inside == 0:
            span = "no rows" if not len(ts) else f"rows from {_iso(ts[0])} to {_iso(ts[-1])}"
            warn(f"{where} [{pair[0]}, {pair[1]}] holds no point of the file (it has {span})")
        spans.append((start, end))
    return tuple(spans)


def _iso(epoch: int) -> str:
    return pd.Timestamp(int(epoch), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")


def _warning(message: str) -> None:
    warnings.warn(message, DatasetWarning, stacklevel=4)


def load_dataset(
    root: str | Path,
    labels: str | Path | None = None,
    warn: Callable[[str], None] = _warning,
) -> list[LabelledSeries]:
    """Every CSV under ``root`` with its windows; files absent from the labels have none.

    Data it repairs or labels it cannot place go to ``warn`` (a :class:`DatasetWarning` by
    default; the command line prints them), so nobody trains on a silently altered file.

    >>> series = load_dataset("../shared/data/nab")  # doctest: +SKIP
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"{base}: not a directory")
    data_dir = base / "data" if (base / "data").is_dir() else base
    label_path = Path(labels) if labels else None
    if label_path is None:
        found = sorted((base / "labels").glob("*.json")) or sorted(base.glob("*.json"))
        label_path = found[0] if found else None
    windows: dict[str, list[list[str]]] = {}
    if label_path is not None:
        try:
            windows = json.loads(label_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{label_path}: cannot read labels JSON: {exc}") from exc
        if not isinstance(windows, dict):
            raise DatasetError(f"{label_path}: expected an object of file -> [[start, end], ...]")
    out = []
    for path in sorted(data_dir.rglob("*.csv")):
        name = path.relative_to(data_dir).as_posix()
        ts, vs = _read_csv(path, warn)
        out.append(
            LabelledSeries(name, ts, vs, _spans(windows.get(name, []), name, label_path, ts, warn))
        )
    if not out:
        raise DatasetError(f"{data_dir}: no CSV files found (expected data/<group>/<name>.csv)")
    unknown = sorted(set(windows) - {s.name for s in out})
    if unknown:
        raise DatasetError(f"{label_path}: labels for files not in {data_dir}: {unknown[:3]}")
    return out


def is_held_out(name: str, fraction: float = 1 / 3) -> bool:
    """Deterministic split by file name: a fixed hash, so nobody can pick a lucky split."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split(
    series: list[LabelledSeries], fraction: float = 1 / 3
) -> tuple[list[LabelledSeries], list[LabelledSeries]]:
    """(train, held-out) by :func:`is_held_out` on each file name."""
    held = [s for s in series if is_held_out(s.name, fraction)]
    train = [s for s in series if not is_held_out(s.name, fraction)]
    return train, held
