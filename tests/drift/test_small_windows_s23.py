"""QA s23: the sampling floor of the drift distances on small windows (README figures).

Windows drawn from the reference itself (no drift at all), over the 12 bins a decile profile
has. The distances (PSI, JS, KS) do not account for the sample size: a small window reads
"drift" from sampling noise alone. The chi-square p-value does, and keeps its 5% false-alarm
rate from 20 values on. These numbers are what the README quotes; the test keeps them honest.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.drift.metrics import chisquare_pvalue, jensen_shannon, psi

DRAWS = 2000


def _no_drift(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``DRAWS`` windows of ``n`` values from a decile reference of 10,000 rows."""
    ref = np.r_[0.0, np.full(10, 1000.0), 0.0]  # underflow, ten deciles, overflow
    cur = np.random.default_rng(n).multinomial(n, ref / ref.sum(), size=DRAWS).astype(float)
    return np.broadcast_to(ref, cur.shape), cur


@pytest.mark.parametrize(
    ("n", "psi_alarms", "js_alarms"),
    [(1, (1.0, 1.0), (1.0, 1.0)), (20, (0.88, 0.97), (0.99, 1.0)), (50, (0.38, 0.5), (0.95, 1.0)),
     (100, (0.01, 0.05), (0.75, 0.85)), (200, (0.0, 0.002), (0.24, 0.33)),
     (500, (0.0, 0.0), (0.0, 0.005))],
)  # fmt: skip
def test_distances_alarm_on_small_windows_without_any_drift(
    n: int, psi_alarms: tuple[float, float], js_alarms: tuple[float, float]
) -> None:
    ref, cur = _no_drift(n)
    psi_rate = float((psi(ref, cur) > 0.2).mean())
    js_rate = float((jensen_shannon(ref, cur) > 0.1).mean())
    assert psi_alarms[0] <= psi_rate <= psi_alarms[1], f"P(PSI > 0.2 | n={n}) = {psi_rate}"
    assert js_alarms[0] <= js_rate <= js_alarms[1], f"P(JS > 0.1 | n={n}) = {js_rate}"


@pytest.mark.parametrize("n", [20, 50, 100, 200])
def test_the_chisquare_pvalue_keeps_its_false_alarm_rate_on_small_windows(n: int) -> None:
    ref, cur = _no_drift(n)
    rate = float((chisquare_pvalue(ref, cur) < 0.05).mean())
    assert 0.03 <= rate <= 0.08, f"P(p < 0.05 | n={n}) = {rate}"
