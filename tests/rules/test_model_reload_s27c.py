"""``rules run`` watches the trained models its learned rules name, as it watches the rule
files and the contracts and references they name.

A model retrained in place (``anomaly train --out models/latency`` over the directory a rule
names with ``detector: {type: learned, model: ../models/latency}``) reached the running rules
only after a restart or a SIGHUP: nothing the watch looked at had changed. A reload builds
the detectors anew and ``load_shared`` loads a directory whose files changed afresh, so being
told of the change was what was missing.

A retrain caught half-way (new model files, the old ``meta.json``) must not take the rules
down: that reload fails, the running rules and the model they hold stay, and the retrain's
last file brings the new model in.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest

from modelhealth.rules.config import load_rules
from modelhealth.rules.reload import ConfigWatch, reload_rules
from tests.rules.test_contract_reload_s26e import _live_store, _save
from tests.rules.test_run_daemon import _metric, _rules_run, _until

pytest.importorskip("lightgbm")

RULES = """\
model: fraud
rules:
  - name: p99-learned
    metric: latency.p99
    window: 5m
    detector: {{type: learned, model: {model}}}
    severity: warning
"""
RELOADED = 'modelhealth_rules_config_reloads_total{{config="rules",result="{result}"}}'


@pytest.fixture(scope="module")
def trained() -> object:
    """The session's tiny learned model (``tests.rules.learned_model``), loaded."""
    from modelhealth.anomaly.model import LearnedModel
    from tests.rules.learned_model import trained_model_path

    return LearnedModel.load(trained_model_path())


def _retrain(model: object, out: Path, run: int) -> None:
    """A retrain in place: every file of ``out`` written anew (``meta.json`` last), the
    model told apart from the previous one by its ``info``."""
    dataclasses.replace(model, info={"run": run}).save(out)  # type: ignore[type-var]


def _half_retrained(out: Path) -> None:
    """A retrain caught half-way: a new ``classifier.txt`` renamed into place, ``meta.json``
    (written last) still the previous model's."""
    clf = out / "classifier.txt"
    _save(clf, clf.read_text() + "\n")


def _layout(tmp_path: Path, trained: object, model: str = "../models/latency") -> Path:
    """``rules/fraud.yaml`` with a learned rule naming ``models/latency``; returns the
    rules folder."""
    _retrain(trained, tmp_path / "models" / "latency", 1)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES.format(model=model))
    return rules


def test_a_model_retrained_in_place_is_a_change_of_the_rules(
    tmp_path: Path, trained: object
) -> None:
    rules = _layout(tmp_path, trained)
    watch = ConfigWatch([rules], None, threading.Event())
    assert not watch.due()
    _retrain(trained, tmp_path / "models" / "latency", 2)
    assert watch.due().rules
    assert not watch.due()  # seen once
    _half_retrained(tmp_path / "models" / "latency")
    assert watch.due().rules


def test_a_model_named_by_an_absolute_path_is_watched_too(tmp_path: Path, trained: object) -> None:
    rules = _layout(tmp_path, trained, model=str(tmp_path / "models" / "latency"))
    watch = ConfigWatch([rules], None, threading.Event())
    _retrain(trained, tmp_path / "models" / "latency", 2)
    assert watch.due().rules


def test_a_model_trained_after_the_start_is_a_change(tmp_path: Path, trained: object) -> None:
    """A rule naming a model not trained yet does not load; training it reloads."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES.format(model="../models/latency"))
    watch = ConfigWatch([rules], None, threading.Event())
    assert not watch.due()
    _retrain(trained, tmp_path / "models" / "latency", 1)
    assert watch.due().rules


def test_named_models_resolves_as_the_loader_does(tmp_path: Path) -> None:
    from modelhealth.rules.reload import named_files, named_models

    rules = tmp_path / "rules"
    rules.mkdir()
    text = RULES.format(model="../models/latency")
    (rules / "fraud.yaml").write_text(text)
    (rules / "copy.yaml").write_text(text.replace("model: fraud", "model: other"))
    (rules / "abs.yaml").write_text(
        RULES.format(model="/srv/models/x").replace("model: fraud", "model: third")
    )
    (rules / "home.yaml").write_text(
        RULES.format(model="~/models/y").replace("model: fraud", "model: fourth")
    )
    (rules / "broken.yaml").write_text("rules: [\n")
    assert sorted(named_models([rules])) == sorted(
        [
            rules / "../models/latency",
            Path("/srv/models/x"),
            Path("~/models/y").expanduser(),
        ]
    )
    assert named_files([rules]) == []  # contracts and references only, as before


def test_the_reloaded_detector_holds_the_retrained_model_and_a_half_retrain_keeps_it(
    tmp_path: Path, trained: object
) -> None:
    """The in-process reload path: a reload after a retrain builds the detector on the new
    model (``load_shared`` sees the directory's new files); a half-written artefact is a
    rule that does not load, and the file keeps its previous rule."""
    from modelhealth.rules.evaluator import Evaluator
    from modelhealth.store.duckdb import DuckDBStore

    rules = _layout(tmp_path, trained)
    store = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        first = load_rules([rules])
        assert first.ok, first.issues
        (det,) = Evaluator(first.rules, store)._detectors.values()
        assert det.model.info == {"run": 1}

        _retrain(trained, tmp_path / "models" / "latency", 2)
        second = reload_rules([rules], first)
        assert second.ok, second.issues
        (det,) = Evaluator(second.rules, store)._detectors.values()
        assert det.model.info == {"run": 2}

        _half_retrained(tmp_path / "models" / "latency")
        kept = reload_rules([rules], second)
        assert [str(i) for i in kept.issues] and "damaged model file" in str(kept.issues[0])
        assert kept.rules == second.rules  # the file's previous rule stays
    finally:
        store.close()


def test_rules_run_takes_a_retrained_model_and_survives_a_half_written_one(
    tmp_path: Path, trained: object
) -> None:
    """A real ``rules run``: a retrain in place reloads its rules; a retrain caught half-way
    is a failed reload that keeps the running rules ticking; the retrain's end reloads."""
    rules = _layout(tmp_path, trained)
    models = tmp_path / "models" / "latency"
    db = _live_store(tmp_path / "live.duckdb")
    ok, partial = RELOADED.format(result="success"), RELOADED.format(result="partial")
    with _rules_run(tmp_path, db, rules, "--interval", "2s", "--max-ticks", "300") as (
        proc,
        port,
    ):
        assert _metric(port, "modelhealth_rules_loaded") == 1
        _retrain(trained, models, 2)
        _until(lambda: _metric(port, ok) == 1, "the reload after the retrain", 60)

        _half_retrained(models)
        _until(lambda: _metric(port, partial) >= 1, "the failed reload of the half model", 60)
        ticks = _metric(port, "modelhealth_rules_ticks_total")
        _until(lambda: _metric(port, "modelhealth_rules_ticks_total") > ticks + 1, "ticks", 60)
        assert proc.poll() is None
        assert _metric(port, "modelhealth_rules_loaded") == 1

        _retrain(trained, models, 3)  # the retrain ends
        _until(lambda: _metric(port, ok) == 2, "the reload after the retrain's end", 60)
    log = (tmp_path / "run.log").read_text()
    assert "reloaded rule files: 1 rule(s) (0 added, 0 edited, 0 removed), 0 error(s)" in log
    assert "damaged model file" in log
    assert "the running rules stay" in log
    assert not [p for p in os.listdir(models) if p.endswith(".tmp")]
