"""The Configs page's learned-rule view: the band, values and alerts it plots must be the
store's buckets and the scheduler's own verdicts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.learned import band_frame, learned_rules
from modelhealth.rules.config import RuleSpec, load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import Scope
from tests.conftest import T0
from tests.dashboard.conftest import write_learned_rules

INCIDENT_AT = T0 - timedelta(hours=3)  # fraud v3's latency regression (demo.incidents)
START, END = to_epoch_ms(T0 - timedelta(hours=12)), to_epoch_ms(T0)


@pytest.fixture(scope="module")
def rules(learned_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[RuleSpec]:
    loaded = load_rules([write_learned_rules(tmp_path_factory.mktemp("rules"), learned_model_dir)])
    assert loaded.ok, loaded.issues
    return loaded.rules


def test_the_band_plots_the_store_buckets_inside_a_consistent_band(seeded_store, rules):
    (rule,) = learned_rules(rules)
    band = band_frame(rule, seeded_store, START, END)
    assert sorted(band["instance"].unique()) == ["version=v2", "version=v3"]
    v3 = band[band["instance"] == "version=v3"]
    want = seeded_store.latency(Scope("fraud", START, END, "v3"), step_ms=300_000)
    assert v3["ts"].tolist() == want["ts"].tolist()
    assert np.allclose(v3["value"], want["p99"])
    ok = v3[np.isfinite(v3["expected"])]
    assert len(ok) > 100
    assert (ok["lower"] <= ok["expected"]).all() and (ok["expected"] <= ok["upper"]).all()
    assert (v3["why"] != "").tolist() == v3["alert"].tolist()  # every alert says why


def test_band_alerts_are_the_schedulers_verdicts(seeded_store, rules):
    """A tick at ``at`` judges the bucket [at - 5m, at): the plotted alert there and the
    scheduler's firing must agree, version by version."""
    (rule,) = learned_rules(rules)
    band = band_frame(rule, seeded_store, START, END)
    ev = Evaluator([rule], seeded_store)
    seen_alert = False
    for k in range(-2, 10):
        at = INCIDENT_AT + timedelta(minutes=5 * k)
        fired = {a.labels["version"] for a in ev.tick(at).firing}
        bucket = band[band["ts"] == to_epoch_ms(at - timedelta(minutes=5))]
        plotted = set(bucket.loc[bucket["alert"].astype(bool), "instance"].str[8:])
        assert plotted == fired, (at, plotted, fired)
        seen_alert |= bool(fired)
    assert seen_alert  # the regression is in this stretch


def test_only_learned_rules_have_a_band(seeded_store, rules):
    static = next(r for r in rules if r.detector_type != "learned")
    with pytest.raises(ValueError, match="not a learned rule"):
        band_frame(static, seeded_store, START, END)
