"""Our metrics vs numbers Evidently 0.7.23 computed on the same data, where definitions match.

Evidently is a bench-only extra, so its outputs were recorded once (the snippet that produced
them is in each docstring) and the data is rebuilt here deterministically. Definitions:
* categorical PSI / Hellinger: the same per-category proportions; no empty categories here,
  so neither side's zero smoothing is exercised -> equal to float precision;
* Jensen-Shannon: Evidently passes ``base=None`` to scipy (natural log); ours is base 2, so
  ours * sqrt(ln 2) must equal theirs;
* chi-square: Evidently runs a goodness-of-fit test against reference proportions, ours a
  two-sample homogeneity test -> different p-values by design, not compared;
* normed Wasserstein: Evidently uses raw samples, ours 100 quantile bins of the reference
  (mass at bin centres) -> equal within the binning error (tolerance 0.005 on ~0.154).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelhealth.drift.metrics import bin_positions, compute
from modelhealth.ingestion.reference import numeric_bin_index, quantile_edges

REF_COUNTS = np.array([400.0, 300.0, 200.0, 100.0])  # categories a b c d
CUR_COUNTS = np.array([250.0, 250.0, 250.0, 250.0])

# _psi / _jensenshannon / _hellinger_distance(ref, cur, ColumnType.Categorical, t)[0] on
# pd.Series(np.repeat(["a","b","c","d"], counts)), evidently 0.7.23
EVIDENTLY_CATEGORICAL = {
    "psi": 0.22821740957339182,
    "js": 0.1669299657259796,
    "hellinger": 0.16789959640267496,
}
# _wasserstein_distance_norm(a, b, ColumnType.Numerical, 0.1)[0] with
# rng = np.random.default_rng(42); a = rng.normal(0, 1, 20000); b = rng.normal(0.15, 1.1, 20000)
EVIDENTLY_WASSERSTEIN_NORM = 0.15423784377199934


def test_categorical_psi_and_hellinger_equal_evidently() -> None:
    for name in ("psi", "hellinger"):
        ours = compute(name, REF_COUNTS, CUR_COUNTS)[0]
        assert ours == pytest.approx(EVIDENTLY_CATEGORICAL[name], rel=1e-12), name


def test_js_equals_evidently_after_change_of_log_base() -> None:
    ours = compute("js", REF_COUNTS, CUR_COUNTS)[0]
    assert ours * math.sqrt(math.log(2)) == pytest.approx(EVIDENTLY_CATEGORICAL["js"], rel=1e-12)


def test_normed_wasserstein_close_to_evidently_on_raw_samples() -> None:
    rng = np.random.default_rng(42)
    a, b = rng.normal(0, 1, 20000), rng.normal(0.15, 1.1, 20000)
    assert a[0] == pytest.approx(0.30471707975443135)  # same stream as when recorded
    edges = np.asarray(quantile_edges(a, 100))
    ha = np.bincount(numeric_bin_index(a, edges), minlength=edges.size + 1)
    hb = np.bincount(numeric_bin_index(b, edges), minlength=edges.size + 1)
    ours = compute("wasserstein_norm", ha, hb, positions=bin_positions(edges))[0]
    assert ours == pytest.approx(EVIDENTLY_WASSERSTEIN_NORM, abs=0.005)
