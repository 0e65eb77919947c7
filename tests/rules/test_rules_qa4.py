"""QA round 4: resolves that say why, pending episodes in the history, exponent numbers,
contracts beside the rules, model paths, `for:` on learned rules, read-only eval, NaN values."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules.config import load_rules, load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore, load_history
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import Series

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MIN = 60_000


def _fill(store: DuckDBStore, spans: list[tuple[timedelta, timedelta, float]]) -> None:
    """One request every 30 s with latency ``ms`` in each [start, end) after T."""
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T))
    for start, end, ms in spans:
        ts = np.arange(to_epoch_ms(T + start), to_epoch_ms(T + end), 30_000)
        mon.log_batch(
            model="l",
            version="v1",
            features={},
            score=np.full(len(ts), 0.5),
            latency_ms=np.full(len(ts), ms),
            ts_ms=ts,
        )
    mon.flush()


@pytest.fixture()
def lat_store():
    """Latency 50 ms from T-3h to T-1h30m, nothing for half an hour, 200 ms from T-1h to T."""
    store = DuckDBStore()
    h = timedelta(hours=1)
    _fill(store, [(-3 * h, -1.5 * h, 50.0), (-h, timedelta(0), 200.0)])
    yield store
    store.close()


def _rules(body: str) -> list:
    loaded = load_rules_text("model: l\nrules:\n" + body, "r.yaml")
    assert loaded.ok, loaded.issues
    return loaded.rules


# -- 1: a resolve for an empty window says it was not judged -----------------------------------
def test_a_resolve_for_an_empty_window_says_not_judged(lat_store):
    rules = _rules(
        "  - name: p50\n    metric: latency.p50\n    window: 10m\n"
        "    detector: {type: threshold, above: 1}\n"
    )
    ev = Evaluator(rules, lat_store)
    assert len(ev.tick(T - timedelta(minutes=5)).firing) == 1
    rep = ev.tick(T + timedelta(minutes=20))  # the window holds no request
    (resolved,) = rep.resolved
    assert resolved.annotations["detail"] == "no data in the window: resolved as not judged"
    assert "200 > 1" not in resolved.annotations["summary"]
    assert "not judged" in resolved.annotations["summary"]


@pytest.mark.parametrize("when", ["keep", "resolve"])
def test_a_resolve_for_an_empty_baseline_says_so(lat_store, when):
    """The window has data but its baseline none: not judged. With ``when_not_judged:
    resolve`` the alert resolves saying so; by default (keep) it stays firing, saying why."""
    rules = _rules(
        "  - name: jump\n    metric: latency.p50\n    window: 10m\n"
        f"    baseline: {{shift: 1h}}\n    when_not_judged: {when}\n"
        "    detector: {type: change, pct: 50}\n"
    )
    ev = Evaluator(rules, lat_store)
    assert len(ev.tick(T - timedelta(minutes=50)).firing) == 1  # 200 vs 50
    rep = ev.tick(T - timedelta(minutes=20))  # its baseline falls in the gap
    if when == "keep":
        (kept,) = rep.firing
        assert rep.resolved == [] and rep.changed == []
        assert kept.annotations["not_judged"] == "change: no data in the baseline window"
        return
    (resolved,) = rep.resolved
    assert resolved.annotations["detail"] == (
        "change: no data in the baseline window: resolved as not judged"
    )


# -- 2: a pending alert that clears ends its episode in the history, telling nobody ---------------
def test_a_pending_alert_that_clears_is_recorded_but_not_notified(lat_store, tmp_path):
    rules = _rules(
        "  - name: p50\n    metric: latency.p50\n    window: 10m\n    for: 30m\n"
        "    detector: {type: threshold, above: 100}\n"
    )
    told: list = []
    state = AlertStateStore(tmp_path / "alerts.json")
    ev = Evaluator(rules, lat_store, state=state, notify=lambda a, now: told.extend(a))
    ev.tick(T - timedelta(minutes=10))  # 200 > 100: pending
    rep = ev.tick(T + timedelta(minutes=20))  # no data: not judged, cleared while pending
    assert told == [] and rep.resolved == [] and rep.firing == []
    history = load_history(tmp_path / "history.jsonl")
    assert [h["state"] for h in history] == ["pending", "inactive"]
    last = history[-1]
    assert last["resolved_at"] == (T + timedelta(minutes=20)).isoformat()
    assert last["fired_at"] is None
    assert last["annotations"]["detail"].startswith("cleared while pending")
    assert not ev.state.alerts


# -- 3: exponent numbers YAML 1.1 reads as text ----------------------------------------------------
def test_exponent_numbers_are_numbers_in_every_numeric_parameter():
    rules = _rules(
        "  - name: a\n    metric: latency.p50\n    window: 10m\n"
        "    detector: {type: threshold, above: 1e-3, below: -1e9}\n"
        "  - name: z\n    metric: latency.p50\n    window: 1h\n"
        "    detector: {type: zscore, z: 3e0, min_points: 1e1, lookback: 1d, min_std: 1.5e-2}\n"
    )
    th, zs = (r.build_detector() for r in rules)
    assert (th.above, th.below) == (0.001, -1e9)
    assert (zs.z, zs.min_points, zs.min_std) == (3.0, 10, 0.015)


def test_exponent_text_that_is_not_finite_or_not_a_number_is_still_refused():
    for value, why in (("1e400", "finite"), ("abc", "must be a number"), ('"100"', "number")):
        loaded = load_rules_text(
            "model: l\nrules:\n  - name: a\n    metric: latency.p50\n    window: 10m\n"
            f"    detector: {{type: threshold, above: {value}}}\n",
            "r.yaml",
        )
        assert not loaded.rules and why in str(loaded.issues[0]), value


def test_learned_overrides_take_exponent_numbers():
    from modelhealth.anomaly.detector import override_post
    from modelhealth.anomaly.postprocess import PostProcess

    post = override_post(PostProcess(), {"threshold": "9e-1", "novelty": "3e2"})
    assert (post.threshold, post.novelty) == (0.9, 300)


# -- 4: a data contract in the rules folder --------------------------------------------------------
CONTRACT = """format: 1
model: m
contract_version: 1
created_from: train.parquet
row_count: 5000
special_values: [-1.0]
thresholds:
  null_rate: [0.05, 0.2]
custom: []
columns:
- name: x
  dtype: float64
  kind: numeric
"""


def test_a_contract_beside_the_rules_is_skipped_with_a_note(tmp_path):
    (tmp_path / "m.contract.yaml").write_text(CONTRACT)
    (tmp_path / "m.yaml").write_text(
        "model: m\nrules:\n  - name: p50\n    metric: latency.p50\n    window: 10m\n"
        "    detector: {type: threshold, above: 1}\n"
    )
    loaded = load_rules([tmp_path])
    assert loaded.ok, loaded.issues
    assert [Path(f).name for f in loaded.files] == ["m.yaml"]
    (note,) = loaded.notes
    assert "m.contract.yaml: looks like a data contract" in note
    assert "contract: m.contract.yaml" in note


def test_a_rules_file_with_a_columns_key_is_still_a_rules_file():
    loaded = load_rules_text("model: m\ncolumns: [x]\nrules: []\n", "r.yaml")
    assert not loaded.notes and "unknown key" in str(loaded.issues[0])


# -- 5: model paths --------------------------------------------------------------------------------
def _learned_rule(model: str, extra: str = "") -> str:
    return (
        "model: l\nrules:\n  - name: a\n    metric: score.mean\n    window: 5m\n"
        f"    detector: {{type: learned, model: {model}}}\n{extra}"
    )


def test_a_home_model_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    loaded = load_rules_text(_learned_rule("~/models/x"), str(tmp_path / "cfg" / "r.yaml"))
    (issue,) = loaded.issues
    assert f"{tmp_path}/models/x/meta.json: not found" in issue.message
    assert "~" not in issue.message and "resolved against" not in issue.message


def test_a_missing_relative_model_path_names_the_config_folder(tmp_path):
    loaded = load_rules_text(_learned_rule("models/x"), str(tmp_path / "cfg" / "r.yaml"))
    (issue,) = loaded.issues
    assert "resolved against the config file's folder" in issue.message
    assert str(tmp_path / "cfg") in issue.message


# -- 6: for: on a learned rule ---------------------------------------------------------------------
def test_for_on_a_learned_rule_is_an_error(tmp_path):
    from tests.rules.learned_model import trained_model_path

    model = trained_model_path()
    loaded = load_rules_text(_learned_rule(str(model), "    for: 5m\n"), "r.yaml")
    (issue,) = loaded.issues
    assert issue.field == "for" and "where an anomaly starts" in issue.message
    assert load_rules_text(_learned_rule(str(model), "    for: 0m\n"), "r.yaml").ok


# -- 7: rules eval --state reads the store read-only -----------------------------------------------
def test_eval_with_state_works_while_another_process_reads_the_store(tmp_path):
    from modelhealth.rules.cli import rules_main

    db = tmp_path / "s.duckdb"
    store = DuckDBStore(db)
    _fill(store, [(-timedelta(hours=1), timedelta(0), 200.0)])
    store.close()
    cfg = tmp_path / "r.yaml"
    cfg.write_text(
        "model: l\nrules:\n  - name: p50\n    metric: latency.p50\n    window: 10m\n"
        "    detector: {type: threshold, above: 100}\n"
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
            " print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        code = rules_main(
            [
                "eval",
                "--db",
                str(db),
                "--state",
                str(tmp_path / "st" / "alerts.json"),
                "--at",
                (T - timedelta(minutes=5)).isoformat(),
                str(cfg),
            ]
        )
    finally:
        holder.communicate("")
    assert code == 0
    assert load_history(tmp_path / "st" / "history.jsonl")[0]["state"] == "firing"


# -- 8: a NaN or inf newest value on a learned rule ------------------------------------------------
@pytest.mark.parametrize("last", [float("nan"), float("inf")])
def test_a_learned_rule_says_its_newest_value_is_not_finite(last):
    from modelhealth.anomaly.detector import LearnedDetector
    from tests.rules.learned_model import trained_model_path

    det = LearnedDetector(trained_model_path())
    t = np.arange(24 * 30)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(5).normal(0, 1, t.size)
    assert "not enough" not in det.evaluate(Series.from_values(values, step_s=3600)).detail
    values[-1] = last
    result = det.evaluate(Series.from_values(values, step_s=3600))
    assert not result.anomalous
    assert result.detail == f"learned: the newest value is {last} (not finite); not judged"


# -- change detector texts -------------------------------------------------------------------------
def test_change_reads_zero_against_a_zero_baseline_as_no_change():
    from modelhealth.rules.detectors.change import Change

    det = Change(pct=50)
    zero = det.evaluate(Series.from_values([0.0]), Series.from_values([0.0]))
    assert zero.detail == "0 vs baseline 0 (+0.0%, limit 50%)" and not zero.anomalous
    assert "+inf%" in det.evaluate(Series.from_values([5.0]), Series.from_values([0.0])).detail


def test_a_file_named_twice_is_loaded_once(tmp_path) -> None:
    """``rules validate fraud.yaml fraud.yaml`` (or the file and its folder) reported every
    rule as a duplicate of itself."""
    from modelhealth.rules.config import load_rules

    f = tmp_path / "r.yaml"
    f.write_text(
        "model: m\nrules:\n  - {name: a, metric: count, window: 5m, "
        "detector: {type: threshold, below: 1}}\n"
    )
    loaded = load_rules([f, f, tmp_path, tmp_path / "." / "r.yaml"])
    assert loaded.ok and [r.name for r in loaded.rules] == ["a"]
