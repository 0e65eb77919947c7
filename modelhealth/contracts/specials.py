"""What a contract counts as a special value: NaN, ±inf, |x| > 1e150 and the sentinels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelhealth.ingestion.reference import HUGE
from modelhealth.ingestion.reference import special_mask as sdk_special_mask

INF_LABEL = "inf"
"""``special_rates`` key of ±inf and of finite values beyond ±:data:`HUGE` (1e150): special
like NaN (README), counted whether listed or not."""


def _special_label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def beyond_huge(values: np.ndarray) -> np.ndarray:
    """±inf and finite values with |x| > :data:`HUGE`: the SDK counts both special (the square
    of 1e200 overflows a window's sum of squares), so the contract's ``inf`` rate holds both."""
    return np.abs(values) > HUGE


def special_hits(values: np.ndarray, label: str) -> np.ndarray:
    """Which ``values`` are the special value ``label`` names (``inf``: :func:`beyond_huge`)."""
    target = float(label)
    return beyond_huge(values) if np.isinf(target) else values == target


def special_mask(values: np.ndarray, special_values: Sequence[float]) -> np.ndarray:
    """NaN, ±inf, |x| > 1e150 and the listed sentinels: what the SDK counts as special, never
    binned (:func:`modelhealth.ingestion.reference.special_mask`, the SDK's own test).

    Batches and stored windows must agree on it: with ±inf binned as under/overflow, a
    batch read critical PSI where the same rows through the SDK read healthy; with 1e200
    binned, training data itself read PSI 0.70 (critical) and a contract max of 1e200."""
    return sdk_special_mask(values, special_values)
