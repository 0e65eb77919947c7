"""A simulated fleet of model-health series with injected, labelled incidents.

Used to pre-train the default model without any real data and by the harness's
``--simulated`` mode. Each model gets latency, null-rate, prediction-mean, volume and
per-feature PSI series; an incident (a bad deploy, a broken upstream pipeline, drift, a
stuck exporter) hits one or several series of the same model at once.
"""

from __future__ import annotations

import numpy as np

from modelhealth.anomaly.dataset import LabelledSeries

STEP_S = 300
DAY = 86_400 // STEP_S
START = 1_767_225_600  # 2026-01-01T00:00Z


def _base(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n)
    daily = np.sin(2 * np.pi * (t / DAY + rng.uniform()))
    if kind == "latency_p99":
        level = rng.uniform(40, 400)
        return level * np.exp(0.15 * daily + rng.normal(0, rng.uniform(0.03, 0.12), n))
    if kind == "null_rate":
        p = rng.uniform(0.001, 0.05)
        return rng.binomial(2000, p, n) / 2000.0
    if kind == "prediction_mean":
        return rng.uniform(0.1, 0.9) + 0.02 * daily + rng.normal(0, rng.uniform(0.003, 0.02), n)
    if kind == "request_count":
        lam = rng.uniform(50, 2000) * (1 + 0.5 * daily)
        return rng.poisson(lam).astype(float)
    # psi of one feature against its reference: small, positive, noisy
    return np.abs(rng.normal(rng.uniform(0.005, 0.03), rng.uniform(0.002, 0.01), n))


def _incident(x: np.ndarray, kind: str, at: int, length: int, rng: np.random.Generator) -> None:
    spread = float(np.std(x[: max(at, 50)])) or 1e-3
    level = float(np.median(x[: max(at, 50)]))
    mag = spread * rng.uniform(4, 10)
    seg = slice(at, at + length)
    if kind == "spike":
        x[at : at + 2] += mag * (1.5 if rng.random() < 0.5 else -1.0)
    elif kind == "shift":
        x[seg] += mag * (1 if rng.random() < 0.7 else -1)
    elif kind == "drift":
        ramp = np.linspace(0, 1.5 * mag, len(x[seg]))
        x[seg] += ramp
    elif kind == "variance":
        x[seg] += rng.normal(0, mag / 2, len(x[seg]))
    elif kind == "flatline":
        x[seg] = x[at - 1]
    elif kind == "dropout":  # an upstream pipeline stops: volume/level collapses
        x[seg] = level * rng.uniform(0.0, 0.2)


def generate_fleet(
    models: int = 12, points: int = 3000, seed: int = 0, features: int = 3
) -> list[LabelledSeries]:
    """``models`` x (4 + ``features``) series of ``points`` 5-minute buckets with incidents.

    Windows start at the incident onset and end 24 points after it ends; about one model
    in four is incident-free so false positives are measured too.

    >>> fleet = generate_fleet(models=2, points=500)
    """
    rng = np.random.default_rng(seed)
    kinds = ["latency_p99", "null_rate", "prediction_mean", "request_count"]
    kinds += [f"psi_f{i}" for i in range(features)]
    ts = START + STEP_S * np.arange(points, dtype=np.int64)
    out: list[LabelledSeries] = []
    for m in range(models):
        series = {k: _base(k, points, rng) for k in kinds}
        windows: dict[str, list[tuple[int, int]]] = {k: [] for k in kinds}
        n_inc = 0 if rng.random() < 0.25 else int(rng.integers(1, 4))
        for _ in range(n_inc):
            at = int(rng.integers(int(points * 0.2), points - 100))
            length = int(rng.integers(12, 200))
            kind = ["spike", "shift", "drift", "variance", "flatline", "dropout"][
                int(rng.integers(6))
            ]
            hit = rng.choice(kinds, size=int(rng.integers(1, 4)), replace=False)
            for k in hit:
                _incident(series[k], kind, at, length, rng)
                end = min(at + (2 if kind == "spike" else length) + 24, points - 1)
                windows[k].append((at, end))
        for k in kinds:
            x = series[k]
            if k.startswith("psi") or k == "null_rate":
                x = np.maximum(x, 0.0)
            spans = tuple((int(ts[a]), int(ts[b])) for a, b in sorted(windows[k]))
            out.append(LabelledSeries(f"model_{m:02d}/{k}.csv", ts, x, spans))
    return out
