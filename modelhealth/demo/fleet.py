"""A simulated fleet of models with realistic traffic and injected incidents.

Each model draws features, a score and a latency per request from seeded generators; the
incident timeline (:mod:`modelhealth.demo.incidents`) bends those generators at known times so
the demo, the tests and the benchmarks can check that each incident is detected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Generator = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class SimModel:
    """One simulated model: features, score and latency generators, traffic and versions."""

    name: str
    features: Mapping[str, Generator]
    score: Generator
    latency_ms: Generator
    rate_per_min: int
    versions: Mapping[str, float] = field(default_factory=lambda: {"v1": 1.0})
    hosts: tuple[str, ...] = ("host-a", "host-b")


def _normal(mu: float, sd: float) -> Generator:
    return lambda rng, n: rng.normal(mu, sd, n)


def _lognormal(mu: float, sd: float) -> Generator:
    return lambda rng, n: rng.lognormal(mu, sd, n)


def _gamma(shape: float, scale: float, offset: float = 0.0) -> Generator:
    return lambda rng, n: offset + rng.gamma(shape, scale, n)


def _poisson(lam: float) -> Generator:
    return lambda rng, n: rng.poisson(lam, n).astype(np.float64)


def _beta(a: float, b: float) -> Generator:
    return lambda rng, n: rng.beta(a, b, n)


def _choice(values: list[str], p: list[float]) -> Generator:
    arr = np.array(values, dtype=object)
    return lambda rng, n: arr[rng.choice(len(values), n, p=p)]


def fleet() -> dict[str, SimModel]:
    """The demo fleet: a ranker, a fraud classifier, a churn model and a search model."""
    return {
        "ranker": SimModel(
            name="ranker",
            features={
                "query_len": _poisson(4.0),
                "user_tenure_days": _gamma(2.0, 200.0),
                "ctr_7d": _beta(2.0, 30.0),
                "device": _choice(["ios", "android", "web"], [0.4, 0.35, 0.25]),
            },
            score=_beta(2.0, 5.0),
            latency_ms=_gamma(6.0, 4.0),
            rate_per_min=40,
            versions={"v1": 1.0},
        ),
        "fraud": SimModel(
            name="fraud",
            features={
                "amount": _lognormal(3.5, 1.0),
                "txn_velocity": _poisson(2.0),
                "account_age_days": _gamma(1.5, 300.0),
                "country": _choice(["US", "DE", "FR", "BR", "IN"], [0.4, 0.2, 0.15, 0.15, 0.1]),
                "merchant_category": _choice(
                    ["grocery", "travel", "electronics", "fashion"], [0.4, 0.2, 0.2, 0.2]
                ),
            },
            score=_beta(1.0, 12.0),
            latency_ms=_gamma(4.0, 2.0),
            rate_per_min=60,
            versions={"v2": 0.8, "v3": 0.2},
        ),
        "churn": SimModel(
            name="churn",
            features={
                "tenure_months": _gamma(2.0, 12.0),
                "monthly_charges": _normal(65.0, 20.0),
                "support_tickets": _poisson(1.2),
                "ui_session_minutes": _gamma(3.0, 4.0),
                "plan": _choice(["basic", "plus", "premium"], [0.5, 0.3, 0.2]),
            },
            score=_beta(2.0, 8.0),
            latency_ms=_gamma(5.0, 3.0),
            rate_per_min=30,
        ),
        "search": SimModel(
            name="search",
            features={
                "query_tokens": _poisson(3.0),
                "result_count": _gamma(3.0, 15.0),
                "embedding_norm": _normal(1.0, 0.05),
                "locale": _choice(["en-US", "de-DE", "fr-FR"], [0.6, 0.25, 0.15]),
            },
            score=_beta(5.0, 2.0),
            latency_ms=_gamma(8.0, 3.0),
            rate_per_min=50,
        ),
    }


def training_sample(
    model: SimModel, n: int = 20_000, seed: int = 7
) -> tuple[pd.DataFrame, np.ndarray]:
    """The model's reference (training) data: the healthy generators, no incidents."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: gen(rng, n) for name, gen in model.features.items()})
    return frame, model.score(rng, n)
