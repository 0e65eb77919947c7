"""The alert state machine, Prometheus-style: inactive -> pending -> firing -> resolved.

``step`` is pure: it takes the previous alert, whether the condition holds now, and ``now``;
``hold_for`` (the YAML ``for:``) is one timestamp comparison, so tests drive it with a fake
clock. :class:`AlertStateStore` persists active alerts so a restart neither re-fires nor
forgets a pending timer.

Each save writes a temporary file beside the state and renames it over (``write_atomic``),
so a process killed mid-write leaves the previous state intact, but also its temporary file,
which nothing removed: one more ``.alerts.json.<random>.tmp`` per crash, forever. Opening the
state removes those of its files (the state and the scheduler's memory) that are older than
:data:`STALE_TEMP_AGE` (:func:`remove_stale_temps`), and a long-running scheduler looks again
every :data:`STALE_TEMP_AGE` of its saves, for a leftover still fresh when it started.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelhealth.files import STALE_TEMP_AGE, remove_stale_temps, write_atomic
from modelhealth.types import Alert, AlertState


def step(
    prev: Alert | None,
    active: bool,
    value: float,
    now: datetime,
    hold_for: timedelta,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    keep_firing_for: timedelta = timedelta(0),
) -> Alert | None:
    """Next state of one alert instance; None means "nothing to remember".

    ``keep_firing_for`` (Prometheus 2.42's setting of that name): a firing alert whose
    condition stops holding, or whose window has no data, stays firing that long before it
    resolves, and goes on quietly if the condition holds again meanwhile. It stops the
    resolve-and-re-page flapping of a rule whose data arrives in batches (labels delivered
    hourly leave a quality rule's window with too few labels between batches)."""
    if not active:
        if prev is None or prev.is_resolved:
            return None
        if prev.state == AlertState.FIRING:
            since = prev.kept_firing_since or now
            if now - since < keep_firing_for:
                return replace(prev, kept_firing_since=since)
            return replace(
                prev,
                state=AlertState.INACTIVE,
                resolved_at=now,
                value=value,
                annotations=dict(annotations) or prev.annotations,
                kept_firing_since=None,
            )
        return None  # a pending alert that clears is forgotten, as in Prometheus
    if prev is None or prev.is_resolved:
        state = AlertState.FIRING if hold_for <= timedelta(0) else AlertState.PENDING
        return Alert(
            labels=dict(labels),
            annotations=dict(annotations),
            state=state,
            value=value,
            active_at=now,
            fired_at=now if state == AlertState.FIRING else None,
        )
    if prev.state == AlertState.PENDING and now - prev.active_at >= hold_for:  # type: ignore[operator]
        return replace(
            prev, state=AlertState.FIRING, fired_at=now, value=value, annotations=dict(annotations)
        )
    return replace(prev, value=value, annotations=dict(annotations), kept_firing_since=None)


def _to_json(alert: Alert) -> dict[str, object]:
    d = alert.to_dict()
    d["state"] = int(alert.state)
    if alert.kept_firing_since is not None:  # a restart keeps counting from it
        d["kept_firing_since"] = alert.kept_firing_since.isoformat()
    return d


def _from_json(d: Mapping[str, object]) -> Alert:
    def ts(key: str) -> datetime | None:
        v = d.get(key)
        return datetime.fromisoformat(str(v)) if v else None

    return Alert(
        labels=dict(d["labels"]),
        annotations=dict(d["annotations"]),  # type: ignore[arg-type]
        state=AlertState(int(d["state"])),
        value=float(d["value"]),  # type: ignore[arg-type]
        active_at=ts("active_at"),
        fired_at=ts("fired_at"),
        resolved_at=ts("resolved_at"),
        last_sent_at=ts("last_sent_at"),
        kept_firing_since=ts("kept_firing_since"),
    )


def _write_json(path: Path, payload: object) -> None:
    write_atomic(path, json.dumps(payload).encode())


class AlertStateStore:
    """Active alerts keyed by (rule id, fingerprint), persisted atomically as JSON.

    Also appends every transition to ``history.jsonl`` beside it (the dashboard's timeline).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.scheduler: dict[str, Any] = {}
        """The scheduler's memory (``Evaluator``: when each rule last ran, the newest data it
        saw, store failures in a row), kept in ``<state>.scheduler.json`` beside the state so
        a restart, or the next ``eval --once``, goes on where the last left off (named after
        the state file: two schedulers with their own state in one folder keep their own)."""
        self._swept_at = 0.0  # time.monotonic() of the last sweep
        self._sweep()
        if self.path and self.path.exists():
            raw = json.loads(self.path.read_text() or "[]")
            for item in raw:
                self.alerts[(item["rule_id"], item["alert"]["fingerprint"])] = _from_json(
                    item["alert"]
                )
        if self.scheduler_path and self.scheduler_path.exists():
            try:
                loaded = json.loads(self.scheduler_path.read_text() or "{}")
            except ValueError:
                loaded = {}  # a torn file costs one schedule slot, not the alerts
            self.scheduler = loaded if isinstance(loaded, dict) else {}

    @property
    def scheduler_path(self) -> Path | None:
        return self.path.with_name(f"{self.path.stem}.scheduler.json") if self.path else None

    @property
    def history_path(self) -> Path | None:
        return self.path.with_name("history.jsonl") if self.path else None

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = [{"rule_id": rid, "alert": _to_json(a)} for (rid, _), a in self.alerts.items()]
        _write_json(self.path, payload)
        if self.scheduler_path is not None and self.scheduler:
            _write_json(self.scheduler_path, self.scheduler)
        if time.monotonic() - self._swept_at >= STALE_TEMP_AGE.total_seconds():
            self._sweep()

    def _sweep(self) -> None:
        """Remove the stale temporary files of the state and the scheduler's memory
        (:func:`remove_stale_temps`): at opening, then at most every :data:`STALE_TEMP_AGE`
        of saves, since one left by a crash just before this start was still too fresh."""
        self._swept_at = time.monotonic()
        for target in (self.path, self.scheduler_path):
            if target is not None:
                remove_stale_temps(target)

    def record(self, rule_id: str, alert: Alert, now: datetime) -> None:
        """Append one transition to the history log."""
        if self.history_path is None:
            return
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        with self.history_path.open("a") as fh:
            fh.write(
                json.dumps({"at": now.isoformat(), "rule_id": rule_id, **alert.to_dict()}) + "\n"
            )


def load_history(path: str | Path) -> list[dict[str, object]]:
    """Every readable recorded transition (oldest first); an absent file is an empty history."""
    return read_history(path)[0]


def read_history(path: str | Path) -> tuple[list[dict[str, object]], list[int]]:
    """Every readable transition, oldest first, and the 1-based numbers of lines skipped.

    A torn or corrupt line (a crash mid-append) costs that line only, not the whole
    timeline."""
    p = Path(path)
    if not p.exists():
        return [], []
    rows: list[dict[str, object]] = []
    bad: list[int] = []
    for n, line in enumerate(p.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad.append(n)
    return rows, bad
