"""The Fleet page's "worst drift" names a feature only when one drifted.

A model whose features all read PSI 0 (production sends exactly its training distribution)
showed its first feature as the "worst drift", as if that one had drifted: the pick took
the first of the tied zeros. A tie above 0 named its first feature by name and did not
say it was a tie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard import fleetdata
from modelhealth.dashboard.views import fleet
from modelhealth.drift.compare import profile_histograms
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0
from tests.dashboard.test_fleet_scale_s26a import CountingStore, _context


def _training(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(0, 1, 1000), "b": rng.normal(5, 2, 1000)})


@pytest.fixture(scope="module")
def calm_and_tied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Three models over the last hour: ``calm`` logs its training rows themselves (every
    PSI exactly 0); ``tied`` has a feature ``b`` and its copy ``a``, both shifted by 2 (one
    PSI, above 0); ``moved`` drifts on ``b`` alone."""
    root = tmp_path_factory.mktemp("calm")
    calm = _training(1)
    base = np.random.default_rng(2).normal(0, 1, 1000)
    tied = pd.DataFrame({"b": base, "a": base})
    moved = _training(3)
    refs = {
        "calm": build_reference("calm", calm),
        "tied": build_reference("tied", tied),
        "moved": build_reference("moved", moved),
    }
    store = DuckDBStore(root / "fleet.duckdb")
    monitor = Monitor(DuckDBSink(store), refs, clock=FakeClock(T0))
    end = to_epoch_ms(T0)
    ts = np.sort(end - np.random.default_rng(4).integers(60_000, 3_600_000, 1000))
    shifted = base + 2.0
    sent = {
        "calm": {c: calm[c].to_numpy() for c in calm},
        "tied": {"b": shifted, "a": shifted},
        "moved": {"a": moved["a"].to_numpy(), "b": moved["b"].to_numpy() + 3.0},
    }
    for model, features in sent.items():
        monitor.log_batch(
            model=model, version="v1", host="h1", features=features,
            score=np.full(1000, 0.5), latency_ms=np.full(1000, 10.0), ts_ms=ts,
        )  # fmt: skip
    monitor.close()
    store.close()
    return root, refs


def _table(root: Path, refs: dict[str, ModelReference], hide_fleet: bool) -> pd.DataFrame:
    store = CountingStore(DuckDBStore(root / "fleet.duckdb", read_only=True), hide_fleet)
    try:
        return fleet.fleet_table(_context(root, store, refs)).set_index("model")
    finally:
        store.store.close()


@pytest.mark.parametrize("hide_fleet", [False, True], ids=["fleet query", "model by model"])
def test_a_model_whose_every_psi_is_0_names_no_feature(calm_and_tied, hide_fleet) -> None:
    """Every PSI of ``calm`` is 0: the cell says no drift (and the value stays 0.000)
    rather than naming feature ``a``, the first of the zeros; ``moved`` still names ``b``."""
    table = _table(*calm_and_tied, hide_fleet=hide_fleet)
    assert table.loc["calm", "psi"] == 0.0
    assert table.loc["calm", "worst drift"] == "no drift"
    assert fleet.NO_DRIFT == "no drift"
    assert table.loc["moved", "worst drift"] == "b"
    assert table.loc["moved", "psi"] > 0.2


@pytest.mark.parametrize("hide_fleet", [False, True], ids=["fleet query", "model by model"])
def test_a_tie_above_0_names_the_first_feature_by_name_and_says_it_is_a_tie(
    calm_and_tied, hide_fleet
) -> None:
    """``a`` and ``b`` of ``tied`` drift alike: both ways of asking name ``a``, the first
    by name (deterministic, whatever order the rows come in), and say that one more
    feature shares its value."""
    table = _table(*calm_and_tied, hide_fleet=hide_fleet)
    assert table.loc["tied", "psi"] > 0.2
    assert table.loc["tied", "worst drift"] == "a (+1 tied)"


def test_the_no_drift_value_of_a_p_value_is_1() -> None:
    """For a metric where small means drift (a p-value), 1 is no drift and the smallest
    value is the worst; NaN (no data) names no feature and keeps no value."""
    table = pd.DataFrame(
        {
            "model": ["same", "same", "tie", "tie", "tie", "empty"],
            "feature": ["x", "y", "z", "y", "x", "x"],
            "value": [1.0, 1.0, 0.01, 0.01, 0.5, np.nan],
        }
    )
    got = fleetdata.pick_worst(table, "chisquare_pvalue").set_index("model")
    assert got.loc["same", "feature"] == "" and got.loc["same", "value"] == 1.0
    assert got.loc["tie", "feature"] == "y" and got.loc["tie", "tied"] == 1
    assert got.loc["empty", "feature"] == "" and np.isnan(got.loc["empty", "value"])
    shown = {m: fleet.drift_label(got.loc[m]) for m in got.index}
    assert shown == {"same": fleet.NO_DRIFT, "tie": "y (+1 tied)", "empty": ""}


def test_fleet_histograms_equal_to_the_profile_name_no_feature() -> None:
    """The fleet query's path straight from histograms: current == the profile, PSI 0."""
    ref = build_reference("m", _training(5))
    hist = profile_histograms(ref).assign(model="m", label="")
    got = fleetdata.fleet_drift(hist, {"m": ref}, "psi")
    assert list(got.columns) == fleetdata.DRIFT_COLUMNS
    assert got["feature"].tolist() == [""] and got["value"].tolist() == [0.0]
