"""Files the dashboard reads besides the store: alert configs, references, alert state/history.

Each loader keys its cache on the files' stamps (size, mtime, inode: ``modelhealth.files``),
so an edited config or a new alert transition shows at the next page run without restarting
the dashboard. The health rules (green/amber/red) live here too, as plain functions the tests
call directly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from modelhealth.clock import from_epoch_ms
from modelhealth.dashboard.text import plain
from modelhealth.errors import FILE_ERRORS, why_unusable
from modelhealth.files import Stamp, Stamps, file_stamp, file_stamps
from modelhealth.ingestion.reference import ModelReference, load_reference
from modelhealth.rules.config import LoadResult, load_rules
from modelhealth.rules.state import AlertStateStore, read_history
from modelhealth.types import Alert, AlertState

GREEN, AMBER, RED = "green", "amber", "red"
STATUS_ICON = {GREEN: "🟢", AMBER: "🟠", RED: "🔴"}


def config_files(rules_dir: Path | None) -> list[Path]:
    if rules_dir is None or not rules_dir.exists():
        return []
    if rules_dir.is_file():
        return [rules_dir]
    return sorted(p for p in rules_dir.rglob("*") if p.suffix in (".yaml", ".yml"))


@dataclass(frozen=True)
class Configs:
    """Every config file under the rules folder, validated, with the references they name.

    ``problems`` names each reference file that could not be read and why; the pages warn
    and go on without that model's reference rather than failing as a whole. ``paths`` names
    each loaded reference's file, for warnings about what the file itself holds."""

    result: LoadResult
    references: dict[str, ModelReference]
    reference_keys: dict[str, str]
    problems: tuple[str, ...] = ()
    paths: dict[str, str] = field(default_factory=dict)


def digest(stamps: object) -> str:
    """A short cache key for a long tuple of stamps: Streamlit hashes an argument element by
    element, 0.3 s per page run for the stamps of a 1,000-file rules folder."""
    return hashlib.sha256(repr(stamps).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_rules(token: str, rules_dir: str) -> LoadResult:
    """The rules folder, loaded once per ``token`` (the :func:`digest` of its files' stamps)."""
    return load_rules([rules_dir])


MAX_REFERENCES = 5000
"""Reference profiles kept loaded: every page run asks for the profile of every model with
a rules file, so a cache smaller than the fleet evicts each profile before it is asked for
again. With 32, a 1,000-model fleet re-read all 1,000 files at every run (2.7 s on each
page, however warm)."""


@st.cache_resource(show_spinner=False, max_entries=MAX_REFERENCES)
def _load_reference(path: str, stamp: Stamp) -> ModelReference | str:
    """The profile at ``path``, or why it cannot be used (keyed on the file's stamp: a fix
    shows at once)."""
    return load_reference(path)


def _references(result: LoadResult) -> Configs:
    """The reference profile of each model with a rules file naming one (its first rule
    that does), read through one cache entry for the whole set: a cached call per profile
    hashed its arguments 1,000 times a page run on a 1,000-model fleet (0.7 s)."""
    named: dict[str, tuple[str, Stamp, str]] = {}
    for rule in result.rules:  # as rules.evaluator.load_references, without the engine
        p = Path(rule.reference_path) if rule.reference_path else None
        if p is None or rule.model in named or not p.exists():
            continue
        named[rule.model] = (str(p), file_stamp(p), str(rule.source))
    listed = tuple((m, *v) for m, v in named.items())
    refs, keys, problems, paths = _load_references(digest(listed), listed)
    return Configs(result, refs, keys, problems, paths)


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_references(
    token: str, _named: tuple[tuple[str, str, Stamp, str], ...]
) -> tuple[dict[str, ModelReference], dict[str, str], tuple[str, ...], dict[str, str]]:
    """:func:`_references` for ``_named`` (model, path, stamp, the rule naming it), keyed on
    its :func:`digest`; each profile read through :func:`_load_reference`, so an edited profile is
    the only one read again."""
    refs: dict[str, ModelReference] = {}
    keys: dict[str, str] = {}
    paths: dict[str, str] = {}
    problems: dict[str, str] = {}
    for model, path, stamp, source in _named:
        loaded = _load_reference(path, stamp)
        if isinstance(loaded, str):
            problems[model] = (
                f"Reference profile {path} (named by {source}) {loaded}: drift against the "
                f"reference is not shown for model {model}."
            )
            continue
        refs[model] = loaded
        keys[model] = f"{Path(path).resolve()}:" + ":".join(map(str, stamp))
        paths[model] = path
    return refs, keys, tuple(problems.values()), paths


def load_configs(rules_dir: Path | None) -> Configs:
    files = config_files(rules_dir)
    if rules_dir is None or not files:
        return Configs(LoadResult(), {}, {})
    return _references(_load_rules(digest(file_stamps(files)), str(rules_dir)))


# -- alert state and history ---------------------------------------------------------------


def open_alerts(alerts_json: Path | None) -> list[tuple[str, Alert]]:
    """(rule id, alert) of every pending or firing alert the rules engine last saved.

    An unreadable state file is a warning on the page and no open alerts, not a crash."""
    alerts, problem = read_open_alerts(alerts_json)
    if problem:
        st.warning(plain(problem))
    return alerts


def read_open_alerts(alerts_json: Path | None) -> tuple[list[tuple[str, Alert]], str]:
    """:func:`open_alerts` without the page: the alerts, and why the file was skipped (or "")."""
    if alerts_json is None or not alerts_json.exists():
        return [], ""
    try:
        store = AlertStateStore(alerts_json)
    except FILE_ERRORS as exc:
        why = why_unusable(exc, "an alert state file")
    else:
        return [(rid, a) for (rid, _), a in store.alerts.items() if not a.is_resolved], ""
    return [], (
        f"Alert state {alerts_json} {why}: open alerts are not shown and model status "
        "ignores them until the rules engine rewrites it."
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _history(path: str, token: Stamps) -> tuple[pd.DataFrame, str]:
    rows, bad = read_history(path)
    if not bad:
        return history_frame(rows), ""
    lines = ", ".join(str(n) for n in bad[:5]) + (" …" if len(bad) > 5 else "")
    return history_frame(rows), (
        f"Alert history {path}: skipped {len(bad)} unreadable line(s) (line {lines})."
    )


def history(history_jsonl: Path | None) -> pd.DataFrame:
    if history_jsonl is None:
        return history_frame([])
    frame, problem = _history(str(history_jsonl), file_stamps([history_jsonl]))
    if problem:
        st.warning(plain(problem))
    return frame


HISTORY_COLUMNS = [
    "at",
    "rule_id",
    "fingerprint",
    "alertname",
    "model",
    "feature",
    "version",
    "severity",
    "state",
    "value",
    "active_at",
    "fired_at",
    "resolved_at",
    "summary",
    "labels",
]


def history_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per recorded transition, labels flattened into the columns the pages use."""
    out = []
    for r in rows:
        labels = dict(r.get("labels", {}))  # type: ignore[call-overload]
        ann = dict(r.get("annotations", {}))  # type: ignore[call-overload]
        out.append(
            {
                "at": _ts(r.get("at")),
                "rule_id": r.get("rule_id", ""),
                "fingerprint": r.get("fingerprint", ""),
                "alertname": labels.get("alertname", ""),
                "model": labels.get("model", ""),
                "feature": labels.get("feature", ""),
                "version": labels.get("version", ""),
                "severity": labels.get("severity", ""),
                "state": _state(r),
                "value": float(r.get("value", float("nan"))),  # type: ignore[arg-type]
                "active_at": _ts(r.get("active_at")),
                "fired_at": _ts(r.get("fired_at")),
                "resolved_at": _ts(r.get("resolved_at")),
                "summary": ann.get("summary", ""),
                "labels": json.dumps(labels, sort_keys=True),
            }
        )
    return pd.DataFrame(out, columns=HISTORY_COLUMNS)


def _state(row: Mapping[str, object]) -> str:
    """``resolved`` for an episode that fired and ended; ``cleared`` for one that ended while
    still pending (it never fired, nobody was told: not an incident)."""
    if row.get("resolved_at"):
        return "resolved" if row.get("fired_at") else "cleared"
    return str(row.get("state", ""))


def _ts(value: object) -> pd.Timestamp | None:
    return pd.Timestamp(str(value)) if value else None


def incidents(hist: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """One row per alert episode (active -> resolved), newest first, from the transitions.

    An episode still open at ``now`` ends at ``now`` (state pending/firing) so the timeline
    draws it up to the present. One that cleared while pending never fired and is left out:
    it was counted as a resolved critical incident.
    """
    cols = [
        "alertname",
        "model",
        "feature",
        "version",
        "severity",
        "state",
        "start",
        "fired_at",
        "end",
        "value",
        "summary",
        "labels",
        "fingerprint",
    ]
    if hist.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    # not on rule_id: an edited rule has a new id, and an episode that goes on across the
    # edit (or ends just after it) writes its later rows under that id; the fingerprint
    # already holds the alert's name and labels
    for (_, active), grp in hist.groupby(["fingerprint", "active_at"], sort=False, dropna=False):
        last = grp.sort_values("at").iloc[-1]
        if last["state"] == "cleared":
            continue
        resolved = last["resolved_at"]
        fired = grp["fired_at"].dropna()
        rows.append(
            {
                "alertname": last["alertname"],
                "model": last["model"],
                "feature": last["feature"],
                "version": last["version"],
                "severity": last["severity"],
                "state": last["state"],
                "start": active if active is not None and not pd.isna(active) else last["at"],
                "fired_at": fired.iloc[0] if len(fired) else None,
                "end": resolved if resolved is not None and not pd.isna(resolved) else now,
                "value": last["value"],
                "summary": last["summary"],
                "labels": last["labels"],
                "fingerprint": last["fingerprint"],
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    out["start"] = pd.to_datetime(out["start"], utc=True)
    out["end"] = pd.to_datetime(out["end"], utc=True)
    return out.sort_values("start", ascending=False, ignore_index=True)


def overlapping(inc: pd.DataFrame, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The :func:`incidents` active at some time in ``[start_ms, end_ms)``: started before
    the range ends and ended (or still open) after it starts.

    The Alerts page listed every episode of the whole history whatever the sidebar's range,
    so a week-old resolved alert sat beside tonight's and a link to an incident's hours
    showed all the others too; an episode that began before the range and goes on into it
    still counts (it was firing then)."""
    if inc.empty:
        return inc
    lo = pd.Timestamp(start_ms, unit="ms", tz="UTC")
    hi = pd.Timestamp(end_ms, unit="ms", tz="UTC")
    keep = (inc["start"] < hi) & (inc["end"] > lo)
    return inc[keep].reset_index(drop=True)


# -- fleet health -----------------------------------------------------------------------------


def model_status(
    model: str,
    alerts: Sequence[tuple[str, Alert]],
    last_ts_ms: int | None,
    now: datetime,
    stale_after: timedelta,
) -> tuple[str, str]:
    """(status, why): red on a critical firing alert or stale data, amber on any other open
    alert, else green."""
    mine = [a for _, a in alerts if a.labels.get("model") == model]
    if last_ts_ms is None:
        return RED, "no data"
    age = now - from_epoch_ms(last_ts_ms)
    if age > stale_after:
        return RED, f"stale: no data for {_human(age)}"
    firing = [a for a in mine if a.state == AlertState.FIRING]
    critical = [a for a in firing if a.labels.get("severity") == "critical"]
    if critical:
        return RED, f"{len(critical)} critical firing: {_names(critical)}"
    if firing:
        return AMBER, f"{len(firing)} firing: {_names(firing)}"
    if mine:
        return AMBER, f"{len(mine)} pending: {_names(mine)}"
    return GREEN, "ok"


def _names(alerts: Sequence[Alert]) -> str:
    names = sorted({a.name + (f"[{a.labels['feature']}]" if "feature" in a.labels else "")
                    for a in alerts})  # fmt: skip
    return ", ".join(names[:3]) + (" …" if len(names) > 3 else "")


def _human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    if s < 3600:
        return f"{s // 60} min"
    if s < 86_400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} days"


# -- alerting database (silences, notifications), optional -----------------------------------


def notifications(alerts_db: Path | None) -> pd.DataFrame:
    """Notifications the dispatcher queued/sent (from its outbox), newest first."""
    cols = ["created_at", "sent_at", "receiver", "status", "attempts", "title", "fingerprints"]
    if alerts_db is None or not alerts_db.exists():
        return pd.DataFrame(columns=cols)
    try:
        from modelhealth.alerting.notifiers.base import NotificationBatch
        from modelhealth.alerting.outbox import Outbox
    except ImportError:
        return pd.DataFrame(columns=cols)
    box = Outbox(alerts_db)
    try:
        rows = box.rows()
    finally:
        box.close()
    out = []
    for r in rows:
        batch = NotificationBatch.from_json(r.payload, r.id)
        out.append(
            {
                "created_at": r.created_at,
                "sent_at": r.sent_at,
                "receiver": r.receiver,
                "status": r.status,
                "attempts": r.attempts,
                "title": batch.title,
                "fingerprints": ",".join(str(a.get("fingerprint", "")) for a in batch.alerts),
            }
        )
    return pd.DataFrame(out, columns=cols).iloc[::-1].reset_index(drop=True)
