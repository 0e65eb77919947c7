"""A data contract: what a model's input looked like in training, as a versioned file.

Built once from the reference (training) DataFrame and kept beside the alert configs, it
records per column the schema, null and special-value rates, range, uniqueness, categorical
domain and the histogram bins every later batch or stored window is compared against. The
bins are exactly :func:`modelhealth.ingestion.reference.build_feature_reference`'s, so a
contract also serves as the SDK's :class:`ModelReference` (:meth:`DataContract.to_reference`).

    contract = build_contract("fraud", pd.read_parquet("train.parquet"))
    contract.save("contracts/fraud.contract.yaml")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from modelhealth.errors import ConfigError, ConfigIssue, SourcePos
from modelhealth.ingestion.reference import (
    DEFAULT_SPECIAL_VALUES,
    FeatureReference,
    ModelReference,
    build_feature_reference,
)
from modelhealth.names import check_name

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
                {k: v for k, v in asdict(c).items() if v not in (None, {})} for c in self.custom
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
        p = Path(path)
        return parse_contract(p.read_text(), str(p))


def _special_label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def build_column(
    name: str,
    column: pd.Series,
    special_values: tuple[float, ...] = DEFAULT_SPECIAL_VALUES,
    bins: int = 10,
    max_categories: int = 50,
) -> ColumnContract:
    """Profile one reference column (bins via ``build_feature_reference``)."""
    n = max(len(column), 1)
    ref = build_feature_reference(name, column, bins, max_categories, special_values)
    nulls = column.isna()
    special: dict[str, float] = {}
    lo = hi = None
    domain: tuple[str, ...] = ()
    if ref.kind == "numeric":
        v = column.to_numpy(dtype=np.float64, na_value=np.nan)
        for s in special_values:
            special[_special_label(s)] = float(np.sum(v == s)) / n
        valid = v[~np.isnan(v) & ~np.isin(v, special_values)]
        if valid.size:
            lo, hi = float(valid.min()), float(valid.max())
    else:
        text = column[~nulls].astype(str)
        special["empty"] = float((text == "").sum()) / n
        values = text[text != ""].unique()
        if len(values) <= max_categories:
            domain = tuple(sorted(str(x) for x in values))
    present = column[~nulls]
    unique_rate = float(present.nunique()) / max(len(present), 1)
    return ColumnContract(
        name=name,
        dtype=str(column.dtype),
        kind=ref.kind,
        null_rate=float(nulls.sum()) / n,
        special_rates=special,
        min=lo,
        max=hi,
        # identifiers only: continuous floats are almost always distinct, and that is no key
        unique=bool(len(present) > 1 and unique_rate == 1.0 and column.dtype.kind not in "fc"),
        unique_rate=unique_rate,
        domain=domain,
        edges=ref.edges,
        categories=ref.categories,
        counts=ref.counts,
    )


def build_contract(
    model: str,
    frame: pd.DataFrame,
    *,
    special_values: Sequence[float] = DEFAULT_SPECIAL_VALUES,
    bins: int = 10,
    max_categories: int = 50,
    created_from: str = "",
    contract_version: int = 1,
) -> DataContract:
    """Profile a reference DataFrame into a contract (one ColumnContract per column)."""
    check_name(model, "model")
    specials = tuple(float(s) for s in special_values)
    cols = {
        str(c): build_column(check_name(str(c), "column"), frame[c], specials, bins, max_categories)
        for c in frame.columns
    }
    return DataContract(
        model=model,
        columns=cols,
        row_count=len(frame),
        contract_version=contract_version,
        created_from=created_from,
        special_values=specials,
    )


# -- parsing with positions ---------------------------------------------------------------

_TOP_KEYS = {f.name for f in fields(DataContract)} - {"source"} | {"format"}
_COLUMN_KEYS = {f.name for f in fields(ColumnContract)}
_CUSTOM_KEYS = {f.name for f in fields(CustomCheck)}


def _marks(node: yaml.Node | None, path: tuple[object, ...] = ()) -> dict[tuple[object, ...], Any]:
    """Map every key path (``("columns", 2, "kind")``) to its YAML start mark."""
    out: dict[tuple[object, ...], Any] = {}
    if node is None:
        return out
    out[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*path, k.value)
            out.update(_marks(v, key))
            out[key] = k.start_mark
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_marks(v, (*path, i)))
    return out


def parse_contract(text: str, source: str = "<contract>") -> DataContract:
    """Parse contract text (YAML or JSON, which is YAML) collecting every issue."""
    try:
        raw = yaml.safe_load(text)
        marks = _marks(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = SourcePos(source, mark.line + 1, mark.column + 1) if mark else SourcePos(source)
        raise ConfigError([ConfigIssue(pos, f"not valid YAML/JSON: {exc}")]) from exc
    issues: list[ConfigIssue] = []

    def issue(path: tuple[object, ...], msg: str) -> None:
        m = marks.get(path) or marks.get(path[:-1]) or marks.get(())
        pos = SourcePos(source, m.line + 1, m.column + 1) if m else SourcePos(source)
        issues.append(ConfigIssue(pos, msg, field=".".join(str(p) for p in path)))

    if not isinstance(raw, dict):
        issue((), "expected a mapping with model and columns")
        raise ConfigError(issues)
    for k in raw:
        if k not in _TOP_KEYS:
            issue((k,), f"unknown key; expected one of {sorted(_TOP_KEYS)}")
    for req in ("model", "columns"):
        if req not in raw:
            issue((), f"missing required key {req!r}")
    columns: dict[str, ColumnContract] = {}
    for i, c in enumerate(raw.get("columns") or []):
        if not isinstance(c, dict):
            issue(("columns", i), "each column must be a mapping")
            continue
        bad = [k for k in c if k not in _COLUMN_KEYS]
        for k in bad:
            issue(("columns", i, k), f"unknown column key; expected one of {sorted(_COLUMN_KEYS)}")
        if c.get("kind") not in ("numeric", "categorical"):
            issue(("columns", i, "kind"), "kind must be 'numeric' or 'categorical'")
        if "name" not in c or "dtype" not in c:
            issue(("columns", i), "each column needs name and dtype")
        if bad or issues:
            continue
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}
        columns[str(c["name"])] = ColumnContract(**kw)
    custom = []
    for i, c in enumerate(raw.get("custom") or []):
        if not isinstance(c, dict) or "check" not in c:
            issue(("custom", i), "each custom entry needs 'check: <registered name>'")
            continue
        for k in c:
            if k not in _CUSTOM_KEYS:
                issue(("custom", i, k), f"unknown key; expected one of {sorted(_CUSTOM_KEYS)}")
        if c.get("column") is not None and c["column"] not in (
            x.get("name") for x in raw.get("columns") or [] if isinstance(x, dict)
        ):
            issue(("custom", i, "column"), f"column {c['column']!r} is not in the contract")
        custom.append(CustomCheck(**{k: v for k, v in c.items() if k in _CUSTOM_KEYS}))
    thresholds = dict(DEFAULT_THRESHOLDS)
    for k, v in (raw.get("thresholds") or {}).items():
        if k not in DEFAULT_THRESHOLDS:
            issue(("thresholds", k), f"unknown check; expected one of {sorted(DEFAULT_THRESHOLDS)}")
        elif not (isinstance(v, list) and len(v) == 2 and v[0] <= v[1]):
            issue(("thresholds", k), "expected [warning, critical] with warning <= critical")
        else:
            thresholds[k] = (float(v[0]), float(v[1]))
    if issues:
        raise ConfigError(issues)
    return DataContract(
        model=check_name(raw["model"], "model"),
        columns=columns,
        row_count=int(raw.get("row_count") or 0),
        contract_version=int(raw.get("contract_version") or 1),
        created_from=str(raw.get("created_from") or ""),
        expected_rows=raw.get("expected_rows"),
        special_values=tuple(float(s) for s in raw.get("special_values", DEFAULT_SPECIAL_VALUES)),
        thresholds=thresholds,
        custom=tuple(custom),
        source=source,
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension) with a clear error for anything else."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix in (".csv", ".txt") or p.name.endswith(".csv.gz"):
        # CSV cannot tell "" from a missing cell: both are read as null (Parquet can)
        return pd.read_csv(p)
    raise ValueError(f"{p}: expected a .csv or .parquet file")
