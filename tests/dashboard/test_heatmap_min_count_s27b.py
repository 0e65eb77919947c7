"""The drift heatmap greys cells by the ``min_count`` of the model's own drift rules.

It used the rules' default (100 values for PSI) whatever the rules said: with a rule at
``min_count: 2000`` the heatmap coloured cells that rule would never judge, and with one at
``min_count: 20`` it greyed cells the rule does judge. The rules are those the dashboard
loaded from ``--rules`` (``PageContext.rules``, parsed by ``rules.config``), not a second
reading of the YAML.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.cells import min_count_of, min_count_source
from modelhealth.rules.config import load_rules
from modelhealth.rules.metrics import DRIFT_MIN_COUNT
from tests.dashboard.conftest import REFS, Deployment, unescaped
from tests.dashboard.test_app import APP, figure, go


def _rule(name: str, metric: str, min_count: int | None) -> str:
    floor = "" if min_count is None else f"    min_count: {min_count}\n"
    return (
        f"  - name: {name}\n    metric: feature.drift.{metric}\n    window: 1h\n{floor}"
        "    detector: {type: threshold, above: 0.25}\n"
    )


def _config(model: str, *rules: str) -> str:
    return f"model: {model}\nreference: {REFS / (model + '.json')}\nrules:\n" + "".join(rules)


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """churn: two PSI rules with their own min_count (10000 and 2000, more values than any
    15-minute bucket holds) and a JS rule with 20; fraud: a PSI rule without one; ranker:
    PSI rules at 300 and one without (the default, 100)."""
    root = tmp_path_factory.mktemp("rules_s27b")
    (root / "churn.yaml").write_text(
        _config(
            "churn",
            _rule("drift-strict", "psi", 10_000),
            _rule("drift-quiet-hours", "psi", 2_000),
            _rule("drift-js", "js", 20),
        )
    )
    (root / "fraud.yaml").write_text(_config("fraud", _rule("drift", "psi", None)))
    (root / "ranker.yaml").write_text(
        _config("ranker", _rule("drift-300", "psi", 300), _rule("drift-default", "psi", None))
    )
    return root


def test_the_heatmap_min_count_is_the_models_own_rules(rules_dir: Path) -> None:
    loaded = load_rules([rules_dir])
    assert loaded.ok, loaded.issues
    rules = loaded.rules
    assert min_count_of("psi", rules, "churn") == 2_000  # the smaller of 10000 and 2000
    assert min_count_of("js", rules, "churn") == 20  # below the default: judged from 20 on
    assert min_count_of("hellinger", rules, "churn") == DRIFT_MIN_COUNT  # no such rule
    assert min_count_of("psi", rules, "fraud") == DRIFT_MIN_COUNT  # its rule sets none
    assert min_count_of("psi", rules, "search") == DRIFT_MIN_COUNT  # no rules at all
    assert min_count_of("psi", rules, "ranker") == DRIFT_MIN_COUNT  # 300 and the default
    assert min_count_of("chisquare_pvalue", rules, "churn") == 0  # default: sized already
    assert min_count_of("psi") == DRIFT_MIN_COUNT  # without rules, as before
    said = unescaped(min_count_source("psi", rules, "churn"))
    assert said == (
        "the smallest min_count of the model's psi drift rules "
        "(drift-quiet-hours: 2000, drift-strict: 10000)"
    )
    assert unescaped(min_count_source("js", rules, "churn")) == "the min_count of rule drift-js"
    assert unescaped(min_count_source("psi", rules, "fraud")) == (
        "the default min_count of rule drift"
    )
    assert min_count_source("psi", rules, "search") == "the drift rules' default min_count"


def test_the_heatmap_greys_the_cells_the_models_rule_would_not_judge(
    deployment: Deployment, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """churn's smallest PSI min_count is 2000, more than any 15-minute bucket holds: every
    cell is "too few rows" by that rule's number (with the default, 100, none was), and the
    caption names the rules and their numbers."""
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(rules_dir)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    at.sidebar.selectbox(key="model").set_value("churn")
    go(at, "drift")
    data = figure(at, "heatmap")["data"]
    assert all(v is None or math.isnan(v) for row in data[0]["z"] for v in row)  # no colour
    few = [t for t in data if t.get("name") == "too few rows"]
    assert len(few) == 1
    texts = [t for row in few[0]["text"] for t in row if t]
    assert texts and all("fewer than min_count 2000" in t for t in texts), texts[:3]
    captions = [unescaped(c.value) for c in at.caption]
    said = [c for c in captions if "too few rows" in c]
    assert len(said) == 1, captions
    assert "fewer than 2000 values" in said[0]
    assert "(drift-quiet-hours: 2000, drift-strict: 10000)" in said[0]
