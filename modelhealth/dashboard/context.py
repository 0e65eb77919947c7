"""What every page needs for one run: settings, the store, the clock, the chosen time window.

``app.py`` builds a :class:`PageContext` once per run (sidebar widgets included) and hands it
to the page script through a thread-local, because Streamlit page files take no arguments and
each browser session runs on its own thread.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from modelhealth.clock import Clock, FakeClock, SystemClock, from_epoch_ms, to_epoch_ms
from modelhealth.dashboard.charts import whole
from modelhealth.dashboard.data import Queries, StoreHandle
from modelhealth.ingestion.reference import ModelReference
from modelhealth.pinot_schemas import check_namespace
from modelhealth.rules.config import RuleSpec
from modelhealth.store.backend import Scope

RANGES: dict[str, timedelta] = {
    "Last 1 hour": timedelta(hours=1),
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
DEFAULT_RANGE = "Last 24 hours"

STEPS_MS: tuple[int, ...] = tuple(
    m * 60_000 for m in (1, 2, 5, 10, 15, 30, 60, 180, 360, 720, 1440)
)
MAX_POINTS = 300
"""Charts get at most this many time buckets: enough to read, cheap to aggregate."""


@dataclass(frozen=True)
class Settings:
    """The dashboard's command line (after ``streamlit run app.py --``)."""

    db: Path | None = None
    pinot: str | None = None
    namespace: str = ""
    """Prefix of the Pinot table names (``modelhealth pinot init --namespace``); "" reads the
    default tables. Only with ``pinot``."""
    rules_dir: Path | None = None
    state_dir: Path | None = None
    alerts_db: Path | None = None
    now: datetime | None = None
    stale_after: timedelta = timedelta(minutes=15)

    @property
    def alerts_json(self) -> Path | None:
        return self.state_dir / "alerts.json" if self.state_dir else None

    @property
    def history_jsonl(self) -> Path | None:
        return self.state_dir / "history.jsonl" if self.state_dir else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelhealth dashboard", description=__doc__)
    p.add_argument("--db", type=Path, help="DuckDB file (opened read-only; snapshots followed)")
    p.add_argument(
        "--pinot",
        metavar="BROKER_URL",
        help="read Apache Pinot instead of DuckDB, e.g. http://127.0.0.1:8099",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        default="",
        help="with --pinot: read the tables `modelhealth pinot init --namespace NS` made "
        "(NS prefixes their names; default: the un-prefixed tables)",
    )
    p.add_argument("--rules", dest="rules_dir", type=Path, help="folder of alert YAML configs")
    p.add_argument(
        "--state-dir", type=Path, help="rules engine state folder (alerts.json, history.jsonl)"
    )
    p.add_argument(
        "--alerts-db",
        type=Path,
        help="alerting SQLite file (silences, notifications); default STATE_DIR/alerts.db",
    )
    p.add_argument(
        "--now",
        type=datetime.fromisoformat,
        help="freeze the clock at this ISO time (replaying a backfill, tests)",
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=15.0,
        help="minutes without data after which a model shows red (default 15)",
    )
    return p


def parse_settings(argv: Sequence[str]) -> Settings:
    """Parse the app's arguments; unknown ones are an error naming the bad flag."""
    p = parser()
    a = p.parse_args(list(argv))
    if a.namespace:
        _check_namespace_option(p, a.namespace, a.pinot)
    if a.now is not None and a.now.tzinfo is None:
        raise SystemExit(f"--now {a.now.isoformat()}: give a timezone, e.g. 2026-11-20T12:00Z")
    alerts_db = a.alerts_db or (a.state_dir / "alerts.db" if a.state_dir else None)
    return Settings(
        db=a.db,
        pinot=a.pinot,
        namespace=a.namespace,
        rules_dir=a.rules_dir,
        state_dir=a.state_dir,
        alerts_db=alerts_db,
        now=a.now,
        stale_after=timedelta(minutes=a.stale_after),
    )


def _check_namespace_option(p: argparse.ArgumentParser, namespace: str, pinot: str | None) -> None:
    """A usage error (exit 2) for a namespace Pinot's table names cannot start with, or one
    given without ``--pinot``, where it would be silently ignored."""
    if not pinot:
        p.error("--namespace names Pinot tables: use it with --pinot BROKER_URL")
    try:
        check_namespace(namespace)
    except ValueError as exc:
        p.error(
            f"--namespace {namespace!r}: {exc} (letters, digits and _, starting with a letter "
            "or _, e.g. demo_)"
        )


def make_clock(settings: Settings) -> Clock:
    return FakeClock(settings.now) if settings.now is not None else SystemClock()


def pick_step(span_ms: int, max_points: int = MAX_POINTS) -> int:
    """The finest standard bucket that keeps a chart at or under ``max_points`` buckets."""
    for step in STEPS_MS:
        if span_ms / step <= max_points:
            return step
    return STEPS_MS[-1]


@dataclass(frozen=True)
class TimeWindow:
    """The plotted range ``[start_ms, end_ms)`` and its chart bucket ``step_ms``.

    ``end_ms`` is rounded *up* to the bucket so buckets line up with the store's, which puts
    the newest bucket partly in the future. ``now_ms`` is where the data can actually reach:
    rates divide by the time a bucket covers up to it, and drift leaves out the bucket still
    filling. It is not part of equality, so a window stays "the same view" while the clock
    ticks inside the newest bucket (the Configs page keys its backtest result on it).
    """

    start_ms: int
    end_ms: int
    step_ms: int
    now_ms: int | None = field(default=None, compare=False)

    @classmethod
    def ending(cls, now: datetime, span: timedelta) -> TimeWindow:
        """The ``span`` up to ``now``, both ends aligned to the chart bucket."""
        span_ms = int(span.total_seconds() * 1000)
        step = pick_step(span_ms)
        now_ms = to_epoch_ms(now)
        end = -(-now_ms // step) * step
        return cls(end - span_ms, end, step, now_ms)

    @classmethod
    def between(cls, start: datetime, end: datetime, now: datetime | None = None) -> TimeWindow:
        """``[start, end)`` widened to whole buckets; data reaches its end or ``now``."""
        lo, hi = to_epoch_ms(start), to_epoch_ms(end)
        if hi <= lo:
            raise ValueError(f"time range ends ({end}) before it starts ({start})")
        step = pick_step(hi - lo)
        end_ms = -(-hi // step) * step
        return cls(lo // step * step, end_ms, step, to_epoch_ms(now) if now else None)

    @property
    def data_end_ms(self) -> int:
        """The end of the time that can hold data: ``now`` if it falls inside the window."""
        return (
            self.end_ms
            if self.now_ms is None
            else max(self.start_ms, min(self.end_ms, self.now_ms))
        )

    @property
    def elapsed_s(self) -> float:
        """Seconds of the window already lived (the headline QPS divides by this)."""
        return (self.data_end_ms - self.start_ms) / 1000

    def buckets(self, step_ms: int | None = None) -> np.ndarray:
        """Start of every ``step_ms`` bucket (store-aligned) that overlaps the lived window."""
        step = step_ms or self.step_ms
        return np.arange(self.start_ms // step * step, self.data_end_ms, step, dtype=np.int64)

    def complete_buckets(self, step_ms: int | None = None) -> np.ndarray:
        """The :meth:`buckets` wholly inside the lived window (the ones drift may judge)."""
        step = step_ms or self.step_ms
        b = self.buckets(step)
        return b[whole(b, step, self.start_ms, self.data_end_ms)]

    def scope(self, model: str, version: str | None = None, host: str | None = None) -> Scope:
        return Scope(model, self.start_ms, self.end_ms, version=version, host=host)

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    def label(self) -> str:
        fmt = "%Y-%m-%d %H:%M"
        lo, hi = from_epoch_ms(self.start_ms), from_epoch_ms(self.end_ms)
        return f"{lo.strftime(fmt)} → {hi.strftime(fmt)} UTC, {self.step_ms // 60_000} min buckets"


@dataclass
class PageContext:
    """Everything a page renders from; built fresh by app.py on every run."""

    settings: Settings
    handle: StoreHandle
    queries: Queries
    clock: Clock
    window: TimeWindow
    model: str | None
    references: dict[str, ModelReference] = field(default_factory=dict)
    reference_keys: dict[str, str] = field(default_factory=dict)
    reference_paths: dict[str, str] = field(default_factory=dict)
    rules: Sequence[RuleSpec] = ()
    """Every rule loaded from ``--rules`` (parsed once per change of the folder,
    ``sources.load_configs``): the drift heatmap greys cells by its model's own rules'
    ``min_count``."""

    @property
    def now(self) -> datetime:
        return self.clock.now()


_local = threading.local()


def set_current(ctx: PageContext) -> None:
    _local.ctx = ctx


def current() -> PageContext:
    """The context app.py built for this run (page scripts call this first)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        raise RuntimeError(
            "no dashboard context: run the dashboard through modelhealth/dashboard/app.py "
            "(`modelhealth dashboard --db FILE`), not a page file on its own"
        )
    return ctx  # type: ignore[no-any-return]
