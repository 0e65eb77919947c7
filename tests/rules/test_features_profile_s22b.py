"""Round 22b QA: ``features: [amount, amout]`` loaded silently though the file's reference
profile has no feature ``amout``: the rule watched a feature the model never logs and never
fired. ``rules validate`` warns (exit 0, as a note: the model may log features its training
profile lacks), with a did-you-mean from the profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules

RULES = """model: fraud
reference: fraud.json
rules:
  - name: nulls
    metric: feature.null_rate
    features: [amount, amout, "txn_*", "zz_*"]
    window: 30m
    detector: {type: threshold, above: 0.1}
  - name: every-feature
    metric: feature.null_rate
    features: ["*"]
    window: 30m
    detector: {type: threshold, above: 0.1}
  - name: one-glob
    metric: feature.mean
    features: "acc*"
    window: 30m
    detector: {type: threshold, above: 1000}
"""


@pytest.fixture
def rules_dir(tmp_path: Path, fleet_refs) -> Path:
    fleet_refs["fraud"].save(tmp_path / "fraud.json")
    (tmp_path / "fraud.yaml").write_text(RULES)
    return tmp_path


def test_validate_warns_of_a_feature_the_profile_lacks(
    rules_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = rules_main(["validate", str(rules_dir / "fraud.yaml")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "3 rule(s) in 1 file(s); 0 error(s)" in out
    f = rules_dir / "fraud.yaml"
    known = "amount, txn_velocity, account_age_days, country, merchant_category"
    assert err.splitlines() == [
        f"note: {f}:6:24: rule 1 \"nulls\": features: warning: 'amout' is not a feature of "
        f"the reference profile {rules_dir / 'fraud.json'} (did you mean 'amount'?); its "
        f"features: {known}",
        f"note: {f}:6:40: rule 1 \"nulls\": features: warning: 'zz_*' matches no feature of "
        f"the reference profile {rules_dir / 'fraud.json'}; its features: {known}",
    ]


def test_the_rules_load_as_written(rules_dir: Path) -> None:
    loaded = load_rules([rules_dir / "fraud.yaml"])
    assert loaded.ok and [r.features for r in loaded.rules] == [
        ("amount", "amout", "txn_*", "zz_*"),
        (),
        ("acc*",),
    ]
    assert len(loaded.notes) == 2


def test_no_warning_without_a_profile_or_for_a_model_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = RULES.replace("reference: fraud.json\n", "")
    (tmp_path / "fraud.yaml").write_text(text)
    assert rules_main(["validate", str(tmp_path / "fraud.yaml")]) == 0
    assert capsys.readouterr().err == ""


def test_the_demo_rules_do_not_warn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    if not (examples / "rules").is_dir():
        pytest.skip("no examples/rules")
    shutil.copytree(examples, tmp_path / "examples")
    assert rules_main(["validate", str(tmp_path / "examples" / "rules")]) == 0
    assert "warning:" not in capsys.readouterr().err
