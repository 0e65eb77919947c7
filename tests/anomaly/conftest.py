"""A tiny learned model trained once per test session on a simulated fleet (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.forecaster import ForecastParams
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.anomaly.train import train


@pytest.fixture(scope="session")
def tiny_model() -> LearnedModel:
    fleet = generate_fleet(models=2, points=700, seed=3)
    model = train(fleet, seed=0, rows_per_series=800, copies=3, params=ForecastParams(num_trees=60))
    # Detector-behaviour tests need known filters, not whatever the tiny grid search picked.
    model.post = PostProcess(threshold=0.5, min_duration=1, novelty=0)
    return model


@pytest.fixture(scope="session")
def model_dir(tiny_model: LearnedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model.save(tmp_path_factory.mktemp("learned") / "model")
