"""The model artefact: save/load round-trip and clear errors for bad paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhealth.anomaly.model import FORMAT, VERSION, LearnedModel, ModelLoadError
from modelhealth.anomaly.postprocess import PostProcess


def _series(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = 50 + rng.normal(0, 2, 800)
    values[500] += 40
    return 300 * np.arange(800), values


def test_save_load_round_trip_gives_identical_scans(tiny_model: LearnedModel, model_dir: Path):
    loaded = LearnedModel.load(model_dir)
    ts, vs = _series()
    a, b = tiny_model.scan(ts, vs), loaded.scan(ts, vs)
    np.testing.assert_allclose(a.prob, b.prob, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.alerts, b.alerts)
    np.testing.assert_allclose(a.upper, b.upper, rtol=1e-9)
    assert loaded.post == tiny_model.post
    assert loaded.info["train_files"] == tiny_model.info["train_files"]


def test_meta_json_is_versioned(model_dir: Path):
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["format"] == FORMAT and meta["version"] == VERSION
    assert (model_dir / "classifier.txt").read_text().startswith("tree")
    assert sorted(p.name for p in model_dir.glob("forecast_*.txt")) == [
        "forecast_q0.02.txt",
        "forecast_q0.98.txt",
    ]
    assert meta["alphas"] == [0.02, 0.98] and meta["mean_model"] is False


def test_missing_directory_names_the_file(tmp_path: Path):
    with pytest.raises(ModelLoadError, match=r"meta.json: not found"):
        LearnedModel.load(tmp_path / "nope")


def test_wrong_version_is_rejected(model_dir: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in model_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    meta = json.loads((bad / "meta.json").read_text())
    meta["version"] = VERSION + 1
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=rf"expected 'modelhealth-learned-detector'/{VERSION}"):
        LearnedModel.load(bad)
    meta["version"] = VERSION
    (bad / "meta.json").write_text(json.dumps(meta))
    (bad / "forecast_q0.98.txt").unlink()
    with pytest.raises(ModelLoadError, match=r"forecast_q0.98.txt: missing model file"):
        LearnedModel.load(bad)


def test_every_post_processing_setting_survives_save_load(tiny_model: LearnedModel, tmp_path: Path):
    from dataclasses import replace

    post = replace(
        tiny_model.post,
        threshold=0.7,
        min_duration=2,
        min_magnitude=1.0,
        novelty=100,
        hw_threshold=6.5,
        cooldown=3,
        burst_ref=1.1,
        discord_threshold=7.5,
        long_discord_threshold=5.5,
    )
    assert all(getattr(post, f) != getattr(PostProcess(), f) for f in post.to_dict())
    model = LearnedModel(tiny_model.forecaster, tiny_model.classifier, post=post)
    loaded = LearnedModel.load(model.save(tmp_path / "m"))
    assert loaded.post == post
    model = LearnedModel(
        forecaster=tiny_model.forecaster,
        classifier=tiny_model.classifier,
        post=replace(tiny_model.post, hw_threshold=6.5),
    )
    loaded = LearnedModel.load(model.save(tmp_path / "hw"))
    x = 100 + np.random.default_rng(5).normal(0, 1, 900)
    x[-1] += 40  # a spike the Holt-Winters rule alone catches at 6.5 stds
    ts = np.arange(900) * 300
    assert loaded.scan(ts, x).alerts[-1]


def test_rules_naming_one_artefact_share_one_load_until_it_changes(
    tiny_model: LearnedModel, tmp_path: Path
) -> None:
    """Each learned rule, config reload and dashboard render loaded and checked the artefact
    again (0.16 s each); they share one load now, overrides stay per rule, and a retrained
    artefact is read afresh."""
    from modelhealth.anomaly.detector import LearnedDetector

    path = tiny_model.save(tmp_path / "m")
    first, second = LearnedDetector(path), LearnedDetector(str(path))
    assert first.model is second.model
    tuned = LearnedDetector(path, threshold=0.9)
    assert tuned.model.post.threshold == 0.9
    assert tuned.model.classifier is first.model.classifier  # boosters are not copied
    assert LearnedDetector(path).model.post.threshold == tiny_model.post.threshold
    tiny_model.save(path)  # retrained in place: new files
    assert LearnedDetector(path).model is not first.model
