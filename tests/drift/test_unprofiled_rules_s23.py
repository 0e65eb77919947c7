"""QA s23: a feature the SDK had no profile for is not judged by drift rules either.

Without a profile the SDK stores every categorical value in one bin, ``__other__``. Against a
stored baseline (``baseline: {shift: 1d}``) the rules engine compared those one-bin
histograms and read PSI 0 for a feature that went from all "DE" to all "US": a falsely green
rule, where ``drift_table`` (and the README) say "not judged".
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.drift.compare import Baseline, drift_table
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

RULES = """
model: fraud
reference: {reference}
rules:
  - name: drift-vs-yesterday
    metric: feature.drift.psi
    features: all
    window: 1h
    baseline: {{shift: 1d}}
    detector: {{type: threshold, above: -1}}
"""


def _store(tmp_path: Path) -> tuple[DuckDBStore, Path]:
    """``amount`` has a profile; ``country`` (all DE yesterday, all US now) has none."""
    rng = np.random.default_rng(0)
    ref = build_reference("fraud", pd.DataFrame({"amount": rng.normal(0, 1, 5000)}))
    path = tmp_path / "fraud.json"
    ref.save(path)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"fraud": ref}, clock=FakeClock(T0))
    for days_ago, country in ((1, "DE"), (0, "US")):
        ts = to_epoch_ms(T0 - timedelta(days=days_ago, minutes=30)) + np.arange(500)
        mon.log_batch(
            model="fraud",
            version="v1",
            features={"amount": rng.normal(0, 1, 500), "country": np.array([country] * 500)},
            score=np.zeros(500),
            latency_ms=np.ones(500),
            ts_ms=ts,
        )
    mon.close()
    return store, path


def test_a_feature_without_profile_gets_no_drift_value_from_a_rule(tmp_path: Path) -> None:
    store, path = _store(tmp_path)
    rules = load_rules_text(RULES.format(reference=path), "fraud.yaml").rules
    ev = Evaluator(rules, store, notify=lambda alerts, now: None)
    report = ev.tick(T0)
    assert not report.errors
    values = {a.labels["feature"]: a.value for a in ev.state.alerts.values()}
    assert "country" not in values, f"country read psi {values.get('country')} (all DE -> all US)"
    assert set(values) == {"amount"} and values["amount"] < 0.1


def test_drift_table_says_why_such_a_feature_is_not_judged(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    now = Scope("fraud", to_epoch_ms(T0 - timedelta(hours=1)), to_epoch_ms(T0))
    table = drift_table(store, now, Baseline.shifted(timedelta(days=1)), ["psi"])
    country = table[table["feature"] == "country"]
    assert country["value"].isna().all() and not country["drifted"].any()
    assert "no profile" in table.attrs["not_judged"]["country"]
