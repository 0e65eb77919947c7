"""The data contract's data model: what a model's input looked like in training.

A :class:`DataContract` holds one :class:`ColumnContract` per column (schema, null and
special-value rates, range, uniqueness, categorical domain, histogram bins), the user's
:class:`CustomCheck` entries and the (warning, critical) thresholds of every check.
:func:`modelhealth.contracts.build.build_contract` makes one from the reference data,
:meth:`DataContract.save` writes it and :mod:`modelhealth.contracts.parse` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelhealth.errors import ConfigIssue, SourcePos
from modelhealth.ingestion.reference import (
    DEFAULT_SPECIAL_VALUES,
    FeatureReference,
    ModelReference,
)

SCHEMA_VERSION = 1
"""Version of the contract *file format* (``contract_version`` is the content's version)."""

DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "null_rate": (0.05, 0.20),  # absolute increase of the null rate over the reference
    "special_rate": (0.05, 0.20),  # absolute increase of one special value's rate
    "out_of_range": (0.01, 0.05),  # share of valid values outside the reference [min, max]
    "out_of_domain": (0.001, 0.01),  # share of categorical values never seen in training
    "duplicates": (0.0, 0.0),  # share of repeated values in a column unique in training
    "psi": (0.1, 0.25),  # classic PSI bands: < 0.1 stable, > 0.25 major shift
    "row_count_change": (0.5, 0.9),  # |rows / expected_rows - 1|, when expected_rows is set
}
"""(warning, critical) per check: a value strictly above a bound reaches that status."""


@dataclass(frozen=True)
class ColumnContract:
    """What one column looked like in the reference data."""

    name: str
    dtype: str
    kind: str  # "numeric" or "categorical" (how it is binned)
    null_rate: float = 0.0
    special_rates: Mapping[str, float] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    unique: bool = False
    unique_rate: float = 0.0
    domain: tuple[str, ...] = ()
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    counts: tuple[float, ...] = ()

    @property
    def missing_rate(self) -> float:
        """Null plus special rates: what the SDK stores as ``nulls + specials``."""
        return self.null_rate + sum(self.special_rates.values())

    def to_feature_reference(self, special_values: tuple[float, ...]) -> FeatureReference:
        return FeatureReference(
            name=self.name,
            kind=self.kind,
            edges=self.edges,
            categories=self.categories,
            counts=self.counts,
            special_values=special_values,
            null_rate=self.null_rate,
            special_rate=sum(self.special_rates.values()),
        )


@dataclass(frozen=True)
class CustomCheck:
    """A user check referenced by name from the contract file (see checks.CheckRegistry)."""

    check: str
    column: str | None = None
    warning: float | None = None
    critical: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    pos: SourcePos | None = field(default=None, compare=False)
    """Where the entry was written, so an unregistered check names file:line:col (not saved)."""


@dataclass(frozen=True)
class DataContract:
    """Per-column expectations of one model's inputs; see the module docstring."""

    model: str
    columns: Mapping[str, ColumnContract]
    row_count: int = 0
    contract_version: int = 1
    created_from: str = ""
    expected_rows: int | None = None
    special_values: tuple[float, ...] = DEFAULT_SPECIAL_VALUES
    thresholds: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    custom: tuple[CustomCheck, ...] = ()
    source: str = ""  # the file it was loaded from, for error messages (not saved)
    skipped: tuple[str, ...] = ()
    """Columns whose entries had errors, left out by :func:`parse_contract_partial` (not saved)."""

    def threshold(self, check: str) -> tuple[float, float]:
        return tuple(self.thresholds.get(check, DEFAULT_THRESHOLDS[check]))  # type: ignore[return-value]

    def to_reference(self) -> ModelReference:
        """The SDK profile with the contract's bins, so stored windows share them."""
        feats = {n: c.to_feature_reference(self.special_values) for n, c in self.columns.items()}
        return ModelReference(model=self.model, features=feats)

    def to_dict(self) -> dict[str, Any]:
        cols = []
        for c in self.columns.values():
            d = asdict(c)
            d["special_rates"] = dict(c.special_rates)
            for k in ("domain", "edges", "categories", "counts"):
                d[k] = list(d[k])
            cols.append(d)
        return {
            "format": SCHEMA_VERSION,
            "model": self.model,
            "contract_version": self.contract_version,
            "created_from": self.created_from,
            "row_count": self.row_count,
            "expected_rows": self.expected_rows,
            "special_values": list(self.special_values),
            "thresholds": {k: list(v) for k, v in self.thresholds.items()},
            "custom": [
                {k: v for k, v in asdict(c).items() if k != "pos" and v not in (None, {})}
                for c in self.custom
            ],
            "columns": cols,
        }

    def save(self, path: str | Path) -> Path:
        """Write YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        p = Path(path)
        if p.suffix in (".yaml", ".yml"):
            p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, width=100))
        else:
            p.write_text(json.dumps(self.to_dict(), indent=1))
        return p

    @classmethod
    def load(cls, path: str | Path) -> DataContract:
        """Read a contract file; every problem is reported as ``file:line:col: field: msg``."""
        from modelhealth.contracts.parse import parse_contract, read_contract_text

        p = Path(path)
        return parse_contract(read_contract_text(p), str(p))

    @classmethod
    def load_partial(cls, path: str | Path) -> tuple[DataContract, list[ConfigIssue]]:
        """Read what can be read of a contract file; see :func:`parse_contract_partial`."""
        from modelhealth.contracts.parse import parse_contract_partial, read_contract_text

        p = Path(path)
        return parse_contract_partial(read_contract_text(p), str(p))
