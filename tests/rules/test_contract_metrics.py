"""Data-contract checks as rule metrics (``contract.status``, ``contract.<check>``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.contracts import WINDOW_CHECKS, build_contract, validate_window
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import LoadResult, load_rules, load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import Scope
from tests.conftest import T0

STATUS_RULE = """\
model: {model}
contract: {contract}
rules:
  - name: contract-critical
    metric: contract.status
    window: 30m
    detector: {{type: threshold, above: 1.5}}
    severity: critical
"""


def _contract_file(tmp_path: Path, model: str) -> Path:
    """The model's contract, built with the contracts API from its training sample."""
    frame, _ = training_sample(fleet()[model])
    path = tmp_path / "contracts" / f"{model}.contract.yaml"
    path.parent.mkdir(exist_ok=True)
    build_contract(model, frame, created_from="training_sample").save(path)
    return path


def _write_rules(tmp_path: Path, model: str, text: str) -> LoadResult:
    _contract_file(tmp_path, model)
    cfg = tmp_path / "rules" / f"{model}.yaml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(text.format(model=model, contract=f"../contracts/{model}.contract.yaml"))
    loaded = load_rules([cfg])
    assert loaded.ok, [str(i) for i in loaded.issues]
    return loaded


def _firing_at(loaded: LoadResult, store, refs, at=T0):
    ev = Evaluator(loaded.rules, store, references=refs)
    report = ev.tick(at)
    assert not report.errors, report.errors
    return report


def test_status_rule_fires_for_the_null_spike(tmp_path, seeded_store, fleet_refs):
    loaded = _write_rules(tmp_path, "fraud", STATUS_RULE)
    report = _firing_at(loaded, seeded_store, fleet_refs)
    assert report.instances == 5  # one per feature of the contract
    firing = [a for a in report.firing]
    assert [(a.labels["feature"], a.labels["check"]) for a in firing] == [
        ("merchant_category", "all")
    ]
    alert = firing[0]
    assert alert.value == 2.0 and alert.labels["severity"] == "critical"
    assert alert.annotations["contract"].startswith("null_rate=0.3")
    assert "critical > 0.2" in alert.annotations["contract"]


def test_status_rule_is_quiet_before_the_incident(tmp_path, seeded_store, fleet_refs):
    loaded = _write_rules(tmp_path, "fraud", STATUS_RULE)
    assert _firing_at(loaded, seeded_store, fleet_refs, T0 - timedelta(hours=3)).firing == []


def test_status_rule_is_quiet_for_the_healthy_model(tmp_path, seeded_store, fleet_refs):
    loaded = _write_rules(tmp_path, "search", STATUS_RULE)
    report = _firing_at(loaded, seeded_store, fleet_refs)
    assert report.instances == 4 and report.firing == []


CHECK_RULES = """\
model: {model}
contract: {contract}
rules:
  - name: merchant-nulls
    metric: contract.null_rate
    features: ["merchant_*"]
    window: 30m
    detector: {{type: threshold, above: 0.25}}
  - name: psi
    metric: contract.psi
    features: [amount, country]
    window: 30m
    detector: {{type: threshold, above: 0.25}}
  - name: status
    metric: contract.status
    window: 30m
    detector: {{type: threshold, above: 1.5}}
"""


def test_check_metrics_carry_feature_and_check_labels(tmp_path, seeded_store, fleet_refs):
    loaded = _write_rules(tmp_path, "fraud", CHECK_RULES)
    report = _firing_at(loaded, seeded_store, fleet_refs)
    # 1 merchant_* feature + 2 listed features + 5 for status
    assert report.instances == 8
    by_rule = {}
    for a in report.firing:
        by_rule.setdefault(a.labels["alertname"], []).append(a)
    assert sorted(by_rule) == ["merchant-nulls", "status"]
    nulls = by_rule["merchant-nulls"][0]
    assert nulls.labels["feature"] == "merchant_category"
    assert nulls.labels["check"] == "null_rate"
    assert nulls.value == pytest.approx(0.35, abs=0.03)


def test_contract_report_shares_the_window_queries(tmp_path, seeded_store, fleet_refs):
    """Three contract rules over one window cost what one does: the summary and histogram
    queries of that window, validated once per tick."""
    one = _write_rules(tmp_path, "fraud", STATUS_RULE)
    three = _write_rules(tmp_path, "fraud", CHECK_RULES)
    assert _firing_at(one, seeded_store, fleet_refs).queries == 2
    assert _firing_at(three, seeded_store, fleet_refs).queries == 2


def test_group_by_version_validates_each_version(tmp_path, seeded_store, fleet_refs):
    text = STATUS_RULE.replace("    severity: critical\n", "    group_by: [version]\n")
    text = text.replace("contract.status", "contract.psi")
    text += '    features: ["ctr_7d"]\n'
    loaded = _write_rules(tmp_path, "ranker", text)
    report = _firing_at(loaded, seeded_store, fleet_refs)
    assert {(a.labels["version"], a.labels["feature"]) for a in report.firing} == {
        ("v2", "ctr_7d")  # stuck at 0 since T0-4h; v1 keeps its training distribution
    }


def test_every_window_check_is_in_the_catalog(seeded_store, capsys):
    contract = build_contract("fraud", training_sample(fleet()["fraud"])[0])
    end = to_epoch_ms(T0)
    report = validate_window(contract, seeded_store, Scope("fraud", end - 1_800_000, end))
    assert {r.check for r in report.results} <= set(WINDOW_CHECKS)
    assert rules_main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in ["status", *WINDOW_CHECKS]:
        assert f"contract.{name} " in out, name


# -- config errors -----------------------------------------------------------------------

NO_CONTRACT = """\
model: fraud
rules:
  - name: ok
    metric: latency.p99
    window: 30m
    detector: {type: threshold, above: 100}
  - name: contract
    metric: contract.status
    window: 30m
    detector: {type: threshold, above: 1.5}
"""


def test_contract_metric_without_contract_key_is_a_config_error():
    result = load_rules_text(NO_CONTRACT, "f.yaml")
    assert [str(i) for i in result.issues] == [
        'f.yaml:8:13: rule 2 "contract": metric: contract.status needs the model\'s data '
        "contract: add 'contract: PATH' at the top of this file (build one with "
        "`modelhealth contract create`)"
    ]
    assert [r.name for r in result.rules] == ["ok"]


def _with_contract(path: str) -> str:
    return NO_CONTRACT.replace("model: fraud\n", f"model: fraud\ncontract: {path}\n")


def test_missing_contract_file_is_located_and_other_rules_still_load(tmp_path):
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(_with_contract("contracts/nope.yaml"))
    result = load_rules([cfg])
    msgs = [str(i) for i in result.issues]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(
        f"{cfg}:2:11: contract: cannot read contract {tmp_path / 'contracts' / 'nope.yaml'}"
    )
    assert [r.name for r in result.rules] == ["ok"]  # the contract rule is skipped, once


def test_invalid_contract_file_names_both_files(tmp_path):
    bad = tmp_path / "bad.contract.yaml"
    bad.write_text("model: fraud\ncolumns:\n  - {name: amount, dtype: float64, kind: numbers}\n")
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(_with_contract("bad.contract.yaml"))
    msgs = [str(i) for i in load_rules([cfg]).issues]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(f"{cfg}:2:11: contract: invalid contract {bad}: {bad}:3:")
    assert "kind must be 'numeric' or 'categorical'" in msgs[0]


def test_contract_of_another_model_is_rejected(tmp_path):
    _contract_file(tmp_path, "search")
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(_with_contract("contracts/search.contract.yaml"))
    msgs = [str(i) for i in load_rules([cfg]).issues]
    assert len(msgs) == 1 and "is for model 'search', not 'fraud'" in msgs[0], msgs


def test_lookback_detector_and_baseline_are_rejected_for_contract_metrics(tmp_path):
    _contract_file(tmp_path, "fraud")
    text = _with_contract("contracts/fraud.contract.yaml").replace(
        "    detector: {type: threshold, above: 1.5}\n",
        "    detector: {type: zscore, z: 3, lookback: 1d}\n    baseline: {shift: 7d}\n",
    )
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(text)
    result = load_rules([cfg])
    msgs = [str(i) for i in result.issues]
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith(f'{cfg}:11:15: rule 2 "contract": detector: contract metrics are')
    assert "this detector needs 1d of it" in msgs[0]
    assert msgs[1].startswith(f'{cfg}:12:15: rule 2 "contract": baseline: contract metrics')
    assert [r.name for r in result.rules] == ["ok"]


def test_example_config_uses_the_example_contract():
    result = load_rules(["examples/rules/fraud.yaml"])
    assert result.ok, [str(i) for i in result.issues]
    rule = next(r for r in result.rules if r.metric == "contract.status")
    assert rule.contract is not None and rule.contract.model == "fraud"
    assert rule.severity == "warning" and rule.hold_for == timedelta(minutes=5)
    assert Path(rule.contract_path or "").resolve() == (
        Path("examples/contracts/fraud.contract.yaml").resolve()
    )
