"""``rules run`` watches the reference profile a rules file names (``reference:``), as it
watches the file itself and its contract.

A re-profiled reference (new bin edges after a retrain, written over
``../references/fraud.json``) reached the drift rules only after a restart, a SIGHUP or an
edit to the rules file: the watch looked at rule files only. A reload reads the profile
afresh (``evaluator.load_references``), so being told of the change is what was missing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from modelhealth.ingestion import build_reference
from modelhealth.rules.reload import ConfigWatch, named_files
from tests.rules.test_contract_reload_s26e import _save, _training

RULES = """\
model: fraud
reference: ../references/{name}
rules:
  - name: amount-drift
    metric: feature.drift.psi
    features: [amount]
    window: 1h
    detector: {{type: threshold, above: 0.2}}
    severity: warning
"""


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    refs = tmp_path / "references"
    refs.mkdir()
    for name in ("fraud.json", "other.json"):
        build_reference("fraud", _training()).save(refs / name)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES.format(name="fraud.json"))
    return rules, refs


def test_a_re_profiled_reference_is_a_change_of_the_rules(tmp_path: Path) -> None:
    rules, refs = _layout(tmp_path)
    watch = ConfigWatch([rules], None, threading.Event())
    assert not watch.due()
    _save(refs / "fraud.json", (refs / "fraud.json").read_text() + "\n")
    assert watch.due().rules
    assert not watch.due()  # seen once


def test_the_watch_follows_the_reference_a_rules_file_names(tmp_path: Path) -> None:
    rules, refs = _layout(tmp_path)
    watch = ConfigWatch([rules], None, threading.Event())
    _save(rules / "fraud.yaml", RULES.format(name="other.json"))
    assert watch.due().rules
    _save(refs / "fraud.json", (refs / "fraud.json").read_text() + "\n")
    assert not watch.due()  # no longer named
    _save(refs / "other.json", (refs / "other.json").read_text() + "\n")
    assert watch.due().rules


def test_named_files_lists_contracts_and_references_once(tmp_path: Path) -> None:
    rules, _ = _layout(tmp_path)
    text = RULES.format(name="fraud.json").replace(
        "rules:", "contract: ../contracts/fraud.contract.yaml\nrules:"
    )
    (rules / "fraud.yaml").write_text(text)
    (rules / "copy.yaml").write_text(text.replace("amount-drift", "amount-drift-2"))
    assert sorted(p.name for p in named_files([rules])) == ["fraud.contract.yaml", "fraud.json"]
