"""A reload hands the shared dispatcher the new reference profiles only when it adopts the
new evaluator.

``rules run`` keeps one alert dispatcher across reloads; its notifications' drift plots read
the reference profiles of the evaluator in force. Building the new evaluator used to point
the dispatcher at the new profiles straight away, and the path that keeps the running rules
put the old ones back by hand: a side effect of building that every other path had to undo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import build_reference
from modelhealth.rules import cli
from modelhealth.rules.cli import _evaluator, _parser, _reload
from modelhealth.rules.config import load_rules
from modelhealth.rules.selfmetrics import EngineMetrics
from modelhealth.store.duckdb import DuckDBStore
from tests.rules.test_contract_reload_s26e import _live_store, _training
from tests.rules.test_reference_reload_s26 import RULES


def _setup(tmp_path: Path) -> tuple[Path, object, object, FakeClock, object]:
    refs = tmp_path / "references"
    refs.mkdir()
    build_reference("fraud", _training()).save(refs / "fraud.json")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES.format(name="fraud.json"))
    db = _live_store(tmp_path / "live.duckdb")
    args = _parser().parse_args([
        "run", "--db", str(db), "--state", str(tmp_path / "state" / "alerts.json"),
        "--email-to", "ml@example.com", str(rules),
    ])  # fmt: skip
    clock = FakeClock(datetime.now(UTC))
    store = DuckDBStore(db, read_only=True)
    return rules, args, store, clock, load_rules([rules])


def test_building_an_evaluator_leaves_the_running_ones_references(tmp_path: Path) -> None:
    rules, args, store, clock, loaded = _setup(tmp_path)
    try:
        ev = _evaluator(args, loaded, store, clock)
        running = ev.dispatcher.references
        assert running is ev.references and "fraud" in running
        new_ev = _evaluator(args, load_rules([rules]), store, clock, previous=ev)
        assert new_ev.dispatcher is ev.dispatcher
        assert new_ev.references is not running
        assert ev.dispatcher.references is running  # built, not adopted
    finally:
        store.close()


def test_a_reload_that_applies_switches_the_references_one_that_fails_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, args, store, clock, loaded = _setup(tmp_path)
    try:
        ev = _evaluator(args, loaded, store, clock)
        metrics = EngineMetrics(clock)
        new_ev, loaded2, errors = _reload(args, loaded, store, clock, ev, metrics)
        assert new_ev is not ev and not errors
        assert ev.dispatcher.references is new_ev.references  # adopted

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("the delivery hook failed")

        # a reload that fails after the new evaluator is built keeps the running one
        monkeypatch.setattr(cli, "_deliver_through", broken)
        kept, _, errors = _reload(args, loaded2, store, clock, new_ev, metrics)
        assert kept is new_ev and any("the running rules stay" in e for e in errors)
        assert new_ev.dispatcher.references is new_ev.references
    finally:
        store.close()
