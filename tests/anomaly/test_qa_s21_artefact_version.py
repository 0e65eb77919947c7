"""An artefact of another version says what to do about it, not only that it differs.

Round 18 moved the learned detector's artefacts to VERSION 10, so every model trained before
is refused. The error read ``format/version '...'/9, expected '...'/10`` and stopped there: a
user learnt that the model was stale, not that it must be retrained (nothing converts one)
nor with which command. ``rules validate`` shows the same message for a learned rule.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelhealth.anomaly.model import VERSION, LearnedModel, ModelLoadError
from modelhealth.rules.config import load_rules


def _with_version(model_dir: Path, tmp_path: Path, version: int) -> Path:
    out = tmp_path / "model"
    shutil.copytree(model_dir, out)
    meta = json.loads((out / "meta.json").read_text())
    meta["version"] = version
    (out / "meta.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("version", [VERSION - 1, VERSION + 1])
def test_another_version_says_to_retrain_with_anomaly_train(
    model_dir: Path, tmp_path: Path, version: int
) -> None:
    path = _with_version(model_dir, tmp_path, version)
    with pytest.raises(ModelLoadError) as err:
        LearnedModel.load(path)
    text = str(err.value)
    assert f"/{version}, expected" in text and f"/{VERSION}" in text  # what differs, still
    assert "retrain" in text and f"modelhealth anomaly train DATASET --out {path}" in text


def test_rules_validate_shows_the_retrain_hint(model_dir: Path, tmp_path: Path) -> None:
    _with_version(model_dir, tmp_path, VERSION - 1)
    (tmp_path / "fraud.yaml").write_text(
        "model: fraud\nrules:\n  - name: p99-learned\n    metric: latency.p99\n"
        "    window: 5m\n    detector: {type: learned, model: model}\n"
    )
    result = load_rules([tmp_path / "fraud.yaml"])
    assert not result.rules
    (issue,) = result.issues
    assert "modelhealth anomaly train" in str(issue.message)
