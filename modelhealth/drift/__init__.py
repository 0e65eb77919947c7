"""Drift metrics between binned distributions (vectorised over many features at once)."""
