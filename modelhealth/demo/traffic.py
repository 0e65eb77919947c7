"""Turns the fleet and the incident timeline into SDK calls, for backfill and live traffic."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from modelhealth.clock import to_epoch_ms
from modelhealth.demo.fleet import SimModel
from modelhealth.demo.incidents import INCIDENTS, LAUNCHES, Incident
from modelhealth.ingestion.sdk import Monitor


def version_shares(model: SimModel, at_ms: int, t0_ms: int) -> dict[str, float]:
    """Traffic share per version at a time: launched versions split traffic with the rest."""
    shares = dict(model.versions)
    for (name, version), offset in LAUNCHES.items():
        if name != model.name:
            continue
        if at_ms >= t0_ms + int(offset.total_seconds() * 1000):
            shares = {v: s * 0.5 for v, s in shares.items()}
            shares[version] = 0.5
    return shares


def emit(
    monitor: Monitor,
    model: SimModel,
    start_ms: int,
    end_ms: int,
    t0_ms: int,
    rng: np.random.Generator,
    incidents: Sequence[Incident] = INCIDENTS,
    rate_scale: float = 1.0,
) -> int:
    """Log the traffic of ``model`` in [start_ms, end_ms) through ``monitor.log_batch``."""
    minutes = (end_ms - start_ms) / 60_000
    total = 0
    for version, share in version_shares(model, start_ms, t0_ms).items():
        n = int(rng.poisson(model.rate_per_min * minutes * share * rate_scale))
        if n == 0:
            continue
        ts = np.sort(rng.integers(start_ms, end_ms, n))
        cols = {name: gen(rng, n) for name, gen in model.features.items()}
        cols["__latency_ms"] = model.latency_ms(rng, n)
        cols["__score"] = model.score(rng, n)
        for inc in incidents:
            if inc.model == model.name and inc.version in (None, version):
                m = inc.mask(ts, t0_ms)
                if m.any():
                    inc.apply(cols, m, rng)
        latency = cols.pop("__latency_ms")
        score = cols.pop("__score")
        host = model.hosts[int(rng.integers(len(model.hosts)))]
        total += monitor.log_batch(
            model=model.name,
            version=version,
            features=cols,
            score=score,
            latency_ms=latency,
            ts_ms=ts,
            host=host,
        )
    return total


def backfill(
    monitor: Monitor,
    models: Mapping[str, SimModel],
    t0: datetime,
    days: float,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
    chunk: timedelta = timedelta(hours=1),
) -> int:
    """Simulate ``days`` of history ending at ``t0`` in chunks counted back from t0."""
    rng = np.random.default_rng(seed)
    t0_ms = to_epoch_ms(t0)
    step = int(chunk.total_seconds() * 1000)
    n_chunks = int(np.ceil(days * 86_400_000 / step))
    total = 0
    for i in range(n_chunks, 0, -1):
        lo, hi = t0_ms - i * step, t0_ms - (i - 1) * step
        for model in models.values():
            total += emit(monitor, model, lo, hi, t0_ms, rng)
        monitor.flush()
        if progress is not None:
            progress(n_chunks - i + 1, n_chunks)
    return total
