"""Drift metrics against computations written here, on the edge cases a drift user hits.

The expectations come from scipy.stats / scipy.spatial and numpy formulas in this file, never
from the library's helpers: identical histograms read 0, disjoint ones each metric's maximum
(PSI's finite value is set by its 1e-4 floor: every bin non-empty on one side is floored at
1e-4 on both sides, then each side renormalised), a bin empty on one side, categories never
seen in training, a constant numeric reference, and a window empty on one side (NaN, never a
made-up 0). One case runs end to end: SDK -> DuckDB -> ``drift_table``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.drift.compare import Baseline, drift_table
from modelhealth.drift.metrics import DRIFT_METRICS, compute
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FLOOR = 1e-4


def _psi(r: np.ndarray, c: np.ndarray) -> float:
    """PSI with the documented floor, over the bins non-empty on at least one side."""
    used = (r + c) > 0
    p, q = r[used] / r.sum(), c[used] / c.sum()
    p, q = np.maximum(p, FLOOR), np.maximum(q, FLOOR)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def _expected(r: np.ndarray, c: np.ndarray) -> dict[str, float]:
    p, q = r / r.sum(), c / c.sum()
    used = (r + c) > 0
    stat, pvalue, _, _ = chi2_contingency(np.vstack([r[used], c[used]]), correction=False)
    pos = np.arange(r.size, dtype=float)
    return {
        "psi": _psi(r, c),
        "js": float(jensenshannon(p, q, base=2)),
        "linf": float(np.abs(p - q).max()),
        "ks": float(np.abs(np.cumsum(p) - np.cumsum(q)).max()),
        "wasserstein": float(wasserstein_distance(pos, pos, p, q)),
        "hellinger": float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q))))),
        "chisquare": float(stat),
        "chisquare_pvalue": float(pvalue),
    }


def _got(metric: str, r: np.ndarray, c: np.ndarray) -> float:
    return float(compute(metric, r, c)[0])


def _histograms(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two histograms of a few bins, some bins empty on one side or both."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    r = rng.integers(0, 60, k) * (rng.random(k) < 0.75)
    c = rng.integers(0, 60, k) * (rng.random(k) < 0.75)
    r[0], c[-1] = r[0] + 1, c[-1] + 1  # both sides non-empty, two bins used at least
    return r.astype(float), c.astype(float)


@pytest.mark.parametrize("seed", range(40))
def test_every_metric_matches_scipy_and_numpy_on_random_histograms(seed: int) -> None:
    r, c = _histograms(seed)
    for metric, value in _expected(r, c).items():
        assert _got(metric, r, c) == pytest.approx(value, rel=1e-9, abs=1e-12), metric


@pytest.mark.parametrize("counts", [[5, 5], [0, 3, 0, 7], [1, 0, 0, 0, 9], [1000]])
def test_identical_histograms_read_no_drift(counts: list[int]) -> None:
    h = np.array(counts, dtype=float)
    for metric in ("psi", "js", "linf", "ks", "wasserstein", "hellinger", "chisquare"):
        assert _got(metric, h, 2 * h) == pytest.approx(0.0, abs=1e-7), metric  # shape, not size
    assert _got("chisquare_pvalue", h, 2 * h) == pytest.approx(1.0)


def test_disjoint_histograms_read_each_metrics_maximum() -> None:
    r, c = np.array([30.0, 70.0, 0.0, 0.0]), np.array([0.0, 0.0, 55.0, 45.0])
    for metric in ("js", "ks", "hellinger"):
        assert _got(metric, r, c) == pytest.approx(1.0), metric
    assert _got("linf", r, c) == pytest.approx(0.7)  # the largest bin's share: 1 takes one bin
    assert _got("psi", r, c) == pytest.approx(_psi(r, c))
    # one bin each side: (c - r) * ln(c / r) summed, with 1e-4 in place of the zeros
    one = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert _got("psi", *one) == pytest.approx(2 * (1 - FLOOR) / (1 + FLOOR) * np.log(1 / FLOOR))
    assert _got("psi", *one) == pytest.approx(18.4, abs=0.05)  # the README's figure
    assert _got("linf", *one) == pytest.approx(1.0)
    assert _got("chisquare_pvalue", r, c) < 1e-40


def test_a_bin_empty_on_one_side_is_floored_not_infinite() -> None:
    r, c = np.array([50.0, 50.0, 0.0]), np.array([45.0, 45.0, 10.0])
    value = _got("psi", r, c)
    assert np.isfinite(value) and value == pytest.approx(_psi(r, c))
    # the floor is 1e-4: another floor gives another number, so the convention is pinned
    q = np.array([0.45, 0.45, 0.10])
    p = np.array([0.5, 0.5, 1e-3]) / 1.001
    assert value != pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-3)


def test_a_bin_empty_on_both_sides_changes_nothing() -> None:
    r, c = np.array([40.0, 60.0]), np.array([70.0, 30.0])
    padded = np.array([40.0, 0.0, 60.0, 0.0]), np.array([70.0, 0.0, 30.0, 0.0])
    for metric in ("psi", "js", "linf", "ks", "hellinger", "chisquare", "chisquare_pvalue"):
        assert _got(metric, *padded) == pytest.approx(_got(metric, r, c)), metric


@pytest.mark.parametrize("empty_side", ["current", "reference"])
def test_a_window_empty_on_one_side_has_no_value(empty_side: str) -> None:
    h, zero = np.array([3.0, 4.0, 5.0]), np.zeros(3)
    r, c = (h, zero) if empty_side == "current" else (zero, h)
    for metric in DRIFT_METRICS:
        assert np.isnan(_got(metric, r, c)), metric


def test_ks_on_one_value_per_bin_equals_the_sample_statistic() -> None:
    ref = np.array([1, 1, 2, 3, 3, 3, 4, 5])
    cur = np.array([2, 3, 4, 4, 5, 5, 5, 5, 5])
    r = np.bincount(ref, minlength=6).astype(float)
    c = np.bincount(cur, minlength=6).astype(float)
    assert _got("ks", r, c) == pytest.approx(ks_2samp(ref, cur).statistic)


def _log(store: DuckDBStore, ref, features: dict[str, object], n: int) -> None:
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T0))
    mon.log_batch(
        model="m",
        version="v1",
        features=features,
        score=np.zeros(n),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, to_epoch_ms(T0)),
    )
    mon.close()


def test_unseen_categories_and_a_constant_reference_through_the_store() -> None:
    """Categories never seen in training share ``__other__``, empty in the reference; a
    constant numeric reference has one bin, and a value above it lands in the overflow bin.
    NaN and inf in the window are special values, left out of the bins."""
    train = pd.DataFrame({"country": ["DE"] * 600 + ["FR"] * 400, "rate": [5.0] * 1000})
    ref = build_reference("m", train)
    countries = ["DE"] * 300 + ["FR"] * 100 + ["日本"] * 60 + ["Ünïcode"] * 40
    rate = np.r_[np.full(250, 5.0), np.full(200, 7.5), [np.nan] * 30, [np.inf] * 20]
    store = DuckDBStore(":memory:")
    _log(store, ref, {"country": countries, "rate": rate}, 500)
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + 3_600_000)
    table = drift_table(store, scope, Baseline.profile(ref), metrics=["psi", "js", "linf", "ks"])
    got = {(f, m): v for f, m, v in table[["feature", "metric", "value"]].itertuples(index=False)}
    # independent histograms: categories DE, FR, other; rate: at 5, above 5 (NaN/inf left out)
    r_cat, c_cat = np.array([600.0, 400.0, 0.0]), np.array([300.0, 100.0, 100.0])
    r_num, c_num = np.array([1000.0, 0.0]), np.array([250.0, 200.0])
    assert got[("country", "psi")] == pytest.approx(_psi(r_cat, c_cat))
    p, q = r_cat / r_cat.sum(), c_cat / c_cat.sum()
    assert got[("country", "js")] == pytest.approx(float(jensenshannon(p, q, base=2)))
    assert got[("country", "linf")] == pytest.approx(0.2)
    assert ("country", "ks") not in got  # KS needs ordered bins
    assert got[("rate", "psi")] == pytest.approx(_psi(r_num, c_num))
    assert got[("rate", "ks")] == pytest.approx(200 / 450)
    assert got[("rate", "linf")] == pytest.approx(200 / 450)
