"""The drift heatmap greys a cell by the ``min_count`` of the rules that judge its feature
and version, and says which rule's number that is.

It took every drift rule of the model on the metric, whatever its ``features:`` or
``version:``: a rule limited to version v3 with ``min_count: 3`` coloured every cell of the
all-versions view (the smallest floor of any rule), and a ``min_count: 5000`` rule limited
to feature ``amount`` set nobody else's floor but was not applied to ``amount`` either.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.cells import floor_of, floors_of, min_count_of, min_count_source
from modelhealth.rules.config import RuleSpec, load_rules
from modelhealth.rules.metrics import DRIFT_MIN_COUNT
from tests.dashboard.conftest import REFS, Deployment, unescaped
from tests.dashboard.test_app import APP, figure, go

FEATURES = ["amount", "txn_velocity", "account_age_days", "country", "merchant_category"]


def _rule(name: str, min_count: int, *extra: str) -> str:
    lines = [f"name: {name}", "metric: feature.drift.psi", "window: 1h"]
    lines += [f"min_count: {min_count}", *extra, "detector: {type: threshold, above: 0.25}"]
    return "  - " + "".join(f"{line}\n    " for line in lines).rstrip() + "\n"


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud's PSI rules: 5000 for ``amount`` only, 4000 for the ``account_*`` glob, and 3
    for version v3 only. A 15-minute bucket of fraud holds about 900 values (180 of v3)."""
    root = tmp_path_factory.mktemp("rules_s28b")
    (root / "fraud.yaml").write_text(
        f"model: fraud\nreference: {REFS / 'fraud.json'}\nrules:\n"
        + _rule("amount-strict", 5000, "features: [amount]")
        + _rule("account-glob", 4000, "features: ['account_*']")
        + _rule("v3-loose", 3, "version: v3")
    )
    return root


@pytest.fixture(scope="module")
def rules(rules_dir: Path) -> list[RuleSpec]:
    loaded = load_rules([rules_dir])
    assert loaded.ok, loaded.issues
    return loaded.rules


def test_the_floor_is_the_rules_judging_the_feature_and_version(rules: list[RuleSpec]) -> None:
    all_versions = floors_of("psi", FEATURES, rules, "fraud")
    assert {f: fl.count for f, fl in all_versions.items()} == {
        "amount": 5000,
        "account_age_days": 4000,  # by the glob
        "txn_velocity": DRIFT_MIN_COUNT,  # no rule judges it: the default
        "country": DRIFT_MIN_COUNT,
        "merchant_category": DRIFT_MIN_COUNT,
    }
    assert all_versions["amount"].source(str) == "the min_count of rule amount-strict"
    assert all_versions["country"].source(str) == "the drift rules' default min_count"
    v3 = floors_of("psi", FEATURES, rules, "fraud", version="v3")
    assert {fl.count for fl in v3.values()} == {3}  # v3-loose judges every feature of v3
    said = floor_of("psi", rules, "fraud", "amount", "v3").source(str)
    assert said == (
        "the smallest min_count of the model's psi drift rules (v3-loose: 3, amount-strict: 5000)"
    )
    v2 = floors_of("psi", FEATURES, rules, "fraud", version="v2")
    assert v2 == all_versions  # v3-loose does not judge v2
    # the one-number helpers: a feature no ``features:`` list names, all versions
    assert min_count_of("psi", rules, "fraud") == DRIFT_MIN_COUNT
    assert unescaped(min_count_source("psi", rules, "fraud")) == (
        "the drift rules' default min_count"
    )


def _rows(at: AppTest) -> tuple[dict[str, list[bool]], dict[str, list[str]]]:
    """Per heatmap row (feature): which cells are grey, and their hover texts."""
    data = figure(at, "heatmap")["data"]
    y = data[0]["y"]
    few = [t for t in data if t.get("name") == "too few rows"]
    if not few:
        return {f: [False] * len(data[0]["z"][0]) for f in y}, {f: [] for f in y}
    grey = {
        f: [v is not None and v == v for v in row] for f, row in zip(y, few[0]["z"], strict=True)
    }
    texts = {f: [t for t in row if t] for f, row in zip(y, few[0]["text"], strict=True)}
    return grey, texts


def test_the_heatmap_greys_each_feature_by_its_own_rules(
    deployment: Deployment, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All versions: ``amount`` (5000) and ``account_age_days`` (4000) are grey in every
    bucket, the features no rule names keep their colour (the default, 100); the old page
    took v3-loose's 3 for every cell and greyed none. Version v3: every cell is judged."""
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(rules_dir)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    at.sidebar.selectbox(key="model").set_value("fraud")
    go(at, "drift")
    grey, texts = _rows(at)
    assert all(grey["amount"]) and all(grey["account_age_days"]), grey
    for feature in ("txn_velocity", "country", "merchant_category"):
        assert not any(grey[feature]), (feature, grey[feature])
    assert texts["amount"] and all(
        "fewer than min_count 5000 (the min_count of rule amount-strict)" in t
        for t in texts["amount"]
    ), texts["amount"][:2]
    assert all("rule account-glob" in t for t in texts["account_age_days"])
    said = [unescaped(c.value) for c in at.caption if "too few rows" in c.value]
    assert len(said) == 1, [c.value for c in at.caption]
    assert "4000 for account_age_days (the min_count of rule account-glob)" in said[0]
    assert "5000 for amount (the min_count of rule amount-strict)" in said[0]

    at.selectbox(key="heat_version").set_value("v3").run()
    assert not at.exception, at.exception
    grey, _ = _rows(at)
    assert not any(any(row) for row in grey.values()), grey  # v3-loose: 3 values suffice
    assert not [c for c in at.caption if "too few rows" in c.value]
