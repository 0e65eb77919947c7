"""One broken learned-model artefact must not hold back every other rules reload.

``rules run`` keeps a file's previous rules when the file no longer loads, but the reload
then built a new evaluator, which builds every rule's detector anew from its config, the
kept ones too. A kept learned rule whose ``model:`` directory did not load (a retrain caught
half-way, or a file truncated or corrupted for good: ``ModelLoadError``) made the whole
reload fail ("reload failed ...; the running rules stay"), so an edit to any other, unrelated
rule file was not applied until the artefact was fixed.

Now a rule whose detector cannot be built runs on with the detector (the model) it had, its
alerts go on, and the reload reports it as an error naming the file, line, rule and model
file; every other file's edit applies. A rule new to the evaluator whose detector cannot be
built is left out with such an error, the others run.
"""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelhealth.clock import FakeClock
from modelhealth.rules.cli import _evaluator, _parser, _reload, rules_main
from modelhealth.rules.config import load_rules
from modelhealth.rules.selfmetrics import EngineMetrics
from modelhealth.store.duckdb import DuckDBStore
from tests.rules.test_contract_reload_s26e import _live_store, _save
from tests.rules.test_run_daemon import _metric, _rules_run, _until, _value

pytest.importorskip("lightgbm")

LEARNED = """\
model: fraud
rules:
  - name: p99-learned
    metric: latency.p99
    window: 5m
    detector: {type: learned, model: ../models/latency}
    severity: warning
"""
QUIET = """\
model: fraud
rules:
  - name: traffic
    metric: count
    window: 30m
    detector: {type: threshold, above: 100000}
    severity: warning
"""
LOUD = QUIET.replace("above: 100000", "above: 1")
"""The other file's edit: the threshold lowered, so its rule fires on the live traffic."""
FIRING = 'modelhealth_alerts{severity="warning",state="firing"}'
PARTIAL = 'modelhealth_rules_config_reloads_total{config="rules",result="partial"}'
FAILED = "reloading the rule files failed"


@pytest.fixture(scope="module")
def trained() -> object:
    """The session's tiny learned model (``tests.rules.learned_model``), loaded."""
    from modelhealth.anomaly.model import LearnedModel
    from tests.rules.learned_model import trained_model_path

    return LearnedModel.load(trained_model_path())


def _layout(tmp_path: Path, trained: object) -> tuple[Path, Path]:
    """``rules/learned.yaml`` (a learned rule on ``models/latency``, saved with ``info``
    ``{"run": 1}``) and ``rules/traffic.yaml`` (a quiet threshold rule); returns the rules
    folder and the model directory."""
    models = tmp_path / "models" / "latency"
    dataclasses.replace(trained, info={"run": 1}).save(models)  # type: ignore[type-var]
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "learned.yaml").write_text(LEARNED)
    (rules / "traffic.yaml").write_text(QUIET)
    return rules, models


def _damage(models: Path) -> None:
    """Truncate the model file: its size and sha256 no longer match ``meta.json``'s, so
    the artefact does not load (``ModelLoadError``: "damaged model file")."""
    clf = models / "classifier.txt"
    text = clf.read_text()
    _save(clf, text[: len(text) // 2])


def test_a_damaged_model_keeps_its_rule_running_and_the_other_files_edit_applies(
    tmp_path: Path, trained: object
) -> None:
    """The reload path of ``rules run`` in process (``cli._reload``, as SIGHUP, ``POST
    /-/reload`` and an edited file reach it): after the model is damaged and the other file
    edited, the reload takes the edit, the learned rule runs on with the detector it had
    (the model it held) and its error names the rule and the damaged file. Before, the
    reload failed as a whole and the old evaluator stayed, the edit with it unapplied."""
    rules, models = _layout(tmp_path, trained)
    db = _live_store(tmp_path / "live.duckdb")
    state = str(tmp_path / "state" / "alerts.json")  # run's default is ./state/alerts.json
    args = _parser().parse_args(["run", "--db", str(db), "--state", state, str(rules)])
    now = datetime.now(UTC)
    clock = FakeClock(now)
    store = DuckDBStore(db, read_only=True)
    try:
        loaded = load_rules([rules])
        assert loaded.ok, loaded.issues
        ev = _evaluator(args, loaded, store, clock)
        learned = next(r for r in loaded.rules if r.name == "p99-learned")
        held = ev._detectors[learned.rule_id]
        assert held.model.info == {"run": 1}
        assert ev.tick(now).firing == []

        _damage(models)
        _save(rules / "traffic.yaml", LOUD)
        metrics = EngineMetrics(clock)
        new_ev, fresh, errors = _reload(args, loaded, store, clock, ev, metrics)

        assert not any(FAILED in e for e in errors), errors
        assert new_ev is not ev
        traffic = next(r for r in new_ev.rules if r.name == "traffic")
        assert traffic.detector_params["above"] == 1  # the other file's edit applied
        assert fresh.rules == new_ev.rules
        assert learned in new_ev.rules  # the broken file's rule kept ...
        assert new_ev._detectors[learned.rule_id] is held  # ... with the model it held
        assert new_ev.ran_on == ["fraud/p99-learned"]
        said = [e for e in errors if "p99-learned" in e]
        assert said and all("damaged model file" in e and "classifier.txt" in e for e in said)
        assert any("learned.yaml:3:" in e and "runs on with the detector it had" in e
                   for e in said), errors  # fmt: skip
        assert _value(metrics.render(), PARTIAL) == 1

        report = new_ev.tick(now)
        assert "fraud/p99-learned" not in report.errors, report.errors
        assert report.evaluated == 2
        assert [a.labels["alertname"] for a in report.firing] == ["traffic"]
    finally:
        store.close()


def test_a_new_rule_whose_model_does_not_load_is_left_out_and_the_others_run(
    tmp_path: Path, trained: object
) -> None:
    """At first start a damaged model is a rule error (the loader builds every detector):
    the rule is skipped, the others evaluate, exit 1. And a model damaged between the load
    and the evaluator (no previous detector to fall back on) leaves that rule out with an
    error naming it, where before the evaluator raised and nothing ran at all."""
    from modelhealth.rules.evaluator import Evaluator, alert_labels
    from modelhealth.rules.state import AlertStateStore
    from modelhealth.types import Alert, AlertState, fingerprint

    rules, models = _layout(tmp_path, trained)
    (rules / "traffic.yaml").write_text(LOUD)
    db = _live_store(tmp_path / "live.duckdb")
    loaded = load_rules([rules])  # the model loads here ...
    assert loaded.ok, loaded.issues
    _damage(models)  # ... and no longer when the evaluator builds its detector
    learned = next(r for r in loaded.rules if r.name == "p99-learned")
    state = AlertStateStore()
    now = datetime.now(UTC)
    labels = alert_labels(learned, {"model": "fraud"})
    state.alerts[(learned.rule_id, fingerprint(labels))] = Alert(
        labels=labels, state=AlertState.FIRING, value=1.0, active_at=now, fired_at=now
    )  # remembered from an earlier run
    store = DuckDBStore(db, read_only=True)
    try:
        ev = Evaluator(loaded.rules, store, state=state)
        assert [r.name for r in ev.rules] == ["traffic"]
        (issue,) = ev.issues
        assert "learned.yaml:3:" in str(issue) and "p99-learned" in str(issue)
        assert "damaged model file" in str(issue) and "left out" in str(issue)
        report = ev.tick(now)
        assert report.evaluated == 1
        # the left-out rule's alert is neither judged nor resolved as "rule removed"
        assert sorted(a.labels["alertname"] for a in report.firing) == ["p99-learned", "traffic"]
        assert not report.resolved
    finally:
        store.close()

    code = rules_main(["eval", "--db", str(db), str(rules)])  # a start with the damage
    assert code == 1


def _post(port: int) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/-/reload", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=150) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_rules_run_applies_another_files_edit_while_a_model_is_damaged(
    tmp_path: Path, trained: object
) -> None:
    """A real ``rules run --listen``: the model damaged and the other file's threshold
    lowered, its rule fires (the edit applied), the reloads count as partial, ``POST
    /-/reload`` answers with the damaged model's error, and the learned rule still ticks.
    Before, every reload failed ("the running rules stay") and the edit never applied."""
    rules, models = _layout(tmp_path, trained)
    db = _live_store(tmp_path / "live.duckdb")
    with _rules_run(tmp_path, db, rules, "--interval", "2s", "--max-ticks", "300") as (
        proc,
        port,
    ):
        assert _metric(port, "modelhealth_rules_loaded") == 2
        assert _metric(port, FIRING) == 0
        _damage(models)
        _save(rules / "traffic.yaml", LOUD)
        _until(lambda: _metric(port, FIRING) == 1, "the edited rule to fire", 90)
        assert _metric(port, PARTIAL) >= 1
        status, text = _post(port)
        assert status == 500, text
        assert "p99-learned" in text and "damaged model file" in text, text
        assert FAILED not in text, text
        ticks = _metric(port, "modelhealth_rules_ticks_total")
        _until(lambda: _metric(port, "modelhealth_rules_ticks_total") > ticks + 1, "ticks", 60)
        assert proc.poll() is None
        assert _metric(port, "modelhealth_rules_loaded") == 2
        assert _metric(port, 'modelhealth_rules_config_errors{config="rules"}') >= 1
    log = (tmp_path / "run.log").read_text()
    assert "the running rules stay for those" in log
    assert "fraud/p99-learned" in log
    assert "reload failed" not in log
