"""``min_count:`` of drift rules is validated like every other rule field.

A whole number >= 0 (0 judges any window), on drift metrics only; a bad value is an error at
file:line:col naming the rule, the field and what was expected. A reference profile that
holds fewer values of a feature than the rule's min_count gets a warning (a note): that
feature's drift would never be judged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.ingestion import build_reference
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules_text

RULE = """model: fraud
reference: {reference}
rules:
  - name: psi
    metric: {metric}
    window: 1h
    min_count: {value}
    detector: {{type: threshold, above: 0.2}}
"""


@pytest.fixture()
def reference(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"amount": rng.normal(0, 1, 5000), "tiny": [1.0] * 60 + [None] * 4940})
    path = tmp_path / "fraud.json"
    build_reference("fraud", frame, score=rng.uniform(0, 1, 5000)).save(path)
    return path


def _load(reference: Path, value: str, metric: str = "feature.drift.psi"):
    text = RULE.format(reference=reference, metric=metric, value=value)
    return load_rules_text(text, "fraud.yaml")


@pytest.mark.parametrize("value", ["-1", "2.5", '"100"', "true", "[100]", "lots"])
def test_a_bad_min_count_is_an_error_naming_file_line_field_and_what_is_expected(
    reference: Path, value: str
) -> None:
    loaded = _load(reference, value)
    messages = [str(i) for i in loaded.issues]
    assert messages == [
        'fraud.yaml:7:16: rule 1 "psi": min_count: must be a whole number of values >= 0 '
        f"(e.g. min_count: 500; 0 judges any window), got {loaded_value(value)!r}"
    ], messages
    assert loaded.rules == []


def loaded_value(text: str) -> object:
    """The value YAML reads from ``text``, as the message shows it."""
    import yaml

    return yaml.safe_load(text)


@pytest.mark.parametrize(
    ("metric", "tail"),
    [
        ("latency.p99", "; remove it"),
        ("feature.null_rate", "; remove it"),
        ("contract.status", "; remove it"),
        ("performance.accuracy", "; a performance.accuracy window is judged once it holds 20 "
         "labels; remove it"),
    ],
)  # fmt: skip
def test_min_count_on_a_metric_other_than_drift_is_an_error(
    reference: Path, metric: str, tail: str
) -> None:
    loaded = _load(reference, "100", metric)
    messages = [str(i) for i in loaded.issues if i.field == "min_count"]
    assert messages == [
        'fraud.yaml:7:16: rule 1 "psi": min_count: only drift metrics (feature.drift.*, '
        f"score.drift.*) take 'min_count', not {metric}{tail}"
    ], [str(i) for i in loaded.issues]


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), ("500", 500), ("1e3", 1000), ("1.0e+3", 1000)]
)
def test_a_whole_number_loads(reference: Path, value: str, expected: int) -> None:
    loaded = _load(reference, value, "feature.drift.js")
    assert loaded.ok, [str(i) for i in loaded.issues]
    assert loaded.rules[0].min_count == expected


@pytest.mark.parametrize("metric", ["score.drift.psi", "feature.drift.chisquare_pvalue"])
def test_score_drift_and_chisquare_take_it_too(reference: Path, metric: str) -> None:
    loaded = _load(reference, "50", metric)
    assert loaded.ok, [str(i) for i in loaded.issues]
    assert loaded.rules[0].min_count == 50


ID_RULE = """model: fraud
rules:
  - name: psi-vs-yesterday
    metric: feature.drift.psi
    window: 1h
    baseline: {shift: 1d}
    detector: {type: threshold, above: 0.2}
"""


def test_a_rule_without_min_count_keeps_its_id() -> None:
    """Rules written before the field keep their ids, so their alerts stay keyed the same
    (the id below is the one this rule had before ``min_count`` existed); setting it, even
    to the default, makes it another rule."""
    before = load_rules_text(ID_RULE, "fraud.yaml").rules[0]
    assert before.min_count is None and before.rule_id == "c62b93dd5ab4"
    text = ID_RULE.replace("    window: 1h\n", "    window: 1h\n    min_count: 100\n")
    assert load_rules_text(text, "fraud.yaml").rules[0].rule_id != before.rule_id


def test_validate_accepts_it_and_warns_of_a_profile_too_small_for_it(
    reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(RULE.format(reference=reference, metric="feature.drift.psi", value="100"))
    assert rules_main(["validate", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert "1 rule(s) in 1 file(s); 0 error(s)" in out
    assert (
        f'note: {cfg}:7:16: rule 1 "psi": min_count: warning: the reference profile '
        f"{tmp_path / 'fraud.json'} holds fewer than min_count 100 valid values of 'tiny' (60), "
        "so their drift is never judged; lower min_count or build the profile from more rows"
    ) in err, err
    cfg.write_text(RULE.format(reference=reference, metric="feature.drift.psi", value="50"))
    assert rules_main(["validate", str(cfg)]) == 0
    assert "warning" not in capsys.readouterr().err
