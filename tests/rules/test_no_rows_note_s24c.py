"""A rule of a model without a single row in the store says so, instead of listing every
possible cause of a missing value.

With a store holding only fraud, ``rules eval`` on rules that also name churn printed, for
each churn rule, "no value in its window: no data there (...), fewer than 20 labels ...":
five causes to check when the answer was one, the model has never sent anything (or its
name is misspelt). The evaluator already knows (``series.first_data_ms``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

NOW = datetime.now(UTC).replace(microsecond=0)

RULES = """
model: {model}
rules:
  - name: slow
    metric: latency.p99
    window: 5m
    detector: {{type: threshold, above: 100000}}
  - name: amount-nulls
    metric: feature.null_rate
    features: [amount]
    window: 5m
    detector: {{type: threshold, above: 0.5}}
"""


@pytest.fixture
def fraud_only(tmp_path: Path) -> Path:
    """A DuckDB store written by the SDK with a few fraud requests a minute ago, and no
    other model."""
    frame = pd.DataFrame({"amount": [3.0, 12.5, 40.0, 7.1]})
    reference = build_reference("fraud", frame, score=np.array([0.1, 0.9, 0.4, 0.2]))
    db = tmp_path / "health.duckdb"
    clock = FakeClock(NOW - timedelta(minutes=1))
    monitor = Monitor(DuckDBSink(DuckDBStore(str(db))), {"fraud": reference}, clock=clock)
    for i in range(3):
        monitor.log(model="fraud", version="v1", features={"amount": 5.0 + i},
                    score=0.5, latency_ms=10.0, request_id=f"r-{i}")  # fmt: skip
    monitor.close()
    return db


def _rules(tmp_path: Path, *models: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for model in models:
        (folder / f"{model}.yaml").write_text(RULES.format(model=model))
    return folder


def test_rules_eval_says_a_model_has_no_rows(
    fraud_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _rules(tmp_path, "fraud", "churn")
    code = rules_main(["eval", "--db", str(fraud_only), "--at", NOW.isoformat(), str(rules)])
    assert code == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    churn = [ln for ln in notes if "churn" in ln]
    assert churn == [
        "note: model churn has no rows in the store: 2 rule(s) have nothing to judge"
        " (amount-nulls, slow); check the model name, or it has sent no data yet"
    ], notes
    assert not [ln for ln in notes if "fewer than 20 labels" in ln], notes


def test_the_report_keeps_no_rows_apart_from_a_window_without_data(
    fraud_only: Path, tmp_path: Path
) -> None:
    """Fraud has rows, just none in a window an hour before them: that rule keeps the
    list of causes (its model exists); churn's rules say the model has none."""
    rules = load_rules([_rules(tmp_path, "fraud", "churn")]).rules
    store = DuckDBStore(str(fraud_only), read_only=True)
    try:
        report = Evaluator(rules, store, notify=lambda a, now: None).tick(NOW - timedelta(hours=1))
    finally:
        store.close()
    assert report.no_rows == {
        "churn/slow": "model churn has no rows in the store",
        "churn/amount-nulls": "model churn has no rows in the store",
    }
    assert sorted(report.unmatched) == ["fraud/amount-nulls", "fraud/slow"]


def test_a_rule_naming_a_version_without_rows_says_so(fraud_only: Path, tmp_path: Path) -> None:
    text = RULES.format(model="fraud").replace(
        "    window: 5m\n", "    window: 5m\n    version: v9\n", 1
    )
    path = tmp_path / "v9.yaml"
    path.write_text(text)
    loaded = load_rules([path])
    assert loaded.ok, loaded.issues
    store = DuckDBStore(str(fraud_only), read_only=True)
    try:
        report = Evaluator(loaded.rules, store, notify=lambda a, now: None).tick(NOW)
    finally:
        store.close()
    assert report.no_rows == {"fraud/slow": "model fraud has no rows of version v9 in the store"}
