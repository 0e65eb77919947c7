"""Concept drift: model quality per window once (late) labels arrive, and estimates before."""

from modelhealth.performance.estimate import estimate_performance
from modelhealth.performance.windows import performance_table

__all__ = ["estimate_performance", "performance_table"]
