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

import difflib
import errno
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from modelhealth.errors import ConfigError, ConfigIssue, InvalidName, SourcePos, undecodable_at
from modelhealth.ingestion.reference import (
    DEFAULT_SPECIAL_VALUES,
    HUGE,
    FeatureReference,
    ModelReference,
    build_feature_reference,
)
from modelhealth.ingestion.reference import special_mask as sdk_special_mask
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
        p = Path(path)
        return parse_contract(read_contract_text(p), str(p))

    @classmethod
    def load_partial(cls, path: str | Path) -> tuple[DataContract, list[ConfigIssue]]:
        """Read what can be read of a contract file; see :func:`parse_contract_partial`."""
        p = Path(path)
        return parse_contract_partial(read_contract_text(p), str(p))


def read_contract_text(p: Path) -> str:
    """The text of contract file ``p``. A missing file or a folder is an OSError whose
    ``strerror`` says what was expected (the bare ``No such file or directory`` of
    ``read_text`` said nothing of how to make one); a byte that is not UTF-8 a ConfigError
    located by line and column."""

    if not p.exists():
        raise FileNotFoundError(
            errno.ENOENT,
            "no such contract file (write one with `modelhealth contract create --model M "
            "--reference training.csv`)",
            str(p),
        )
    if p.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "is a folder; expected a contract file (.yaml or .json)", str(p)
        )
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = SourcePos(str(p), *undecodable_at(exc))
        why = f"byte 0x{raw[exc.start]:02x} is not UTF-8; expected a YAML or JSON text file"
        raise ConfigError([ConfigIssue(at, why)]) from None


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
        n_inf = int(beyond_huge(v).sum())
        if n_inf and INF_LABEL not in special:
            special[INF_LABEL] = n_inf / n  # so a window's nulls + specials match the rate
        valid = v[~special_mask(v, special_values)]
        if valid.size:
            lo, hi = float(valid.min()), float(valid.max())
    else:
        text = column[~nulls].astype(str)
        special["empty"] = float((text == "").sum()) / n
        values = text[text != ""].unique()
        if len(values) <= max_categories and column.dtype.kind != "M":  # dates move on
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
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive whole number of quantile bins, got {bins!r}")
    if frame.empty:
        # a contract of no rows has null rates of 0/0, no ranges and no bins: every batch
        # would pass or fail it by accident (a header-only export made one, exit 0)
        raise ValueError(
            f"the reference has no rows ({len(frame.columns)} columns, 0 rows): a contract "
            "profiles the training data, so give it a file that holds some"
        )
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

_TOP_KEYS = {f.name for f in fields(DataContract)} - {"source", "skipped"} | {"format"}
_COLUMN_KEYS = {f.name for f in fields(ColumnContract)}
_CUSTOM_KEYS = {f.name for f in fields(CustomCheck)} - {"pos"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


# -- field types: a hand-edited file must fail at load with a position, not mid-validation --

Problem = tuple[tuple[object, ...], str]
"""A sub-path below the node being checked (``("edges", 3)``) and what is wrong there."""


def _is_number(v: object) -> bool:
    """int or float, but not bool (YAML ``yes`` is True, and True is an int)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def _shown(v: object) -> str:
    return f"{type(v).__name__} {v!r:.40}"


def _number(v: object, what: str, lo: float = -np.inf, hi: float = np.inf) -> str | None:
    """Why ``v`` is no finite number in [lo, hi], or None if it is one."""
    if not _is_number(v) or not np.isfinite(v):
        return f"expected {what}, got {_shown(v)}"
    if not lo <= v <= hi:
        return f"expected {what} in [{lo:g}, {hi:g}], got {v!r}"
    return None


def _count(v: object, what: str, minimum: int) -> str | None:
    """Why ``v`` is no whole number >= ``minimum`` (quoted numbers are refused, not guessed)."""
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        return f"expected {what} (a whole number >= {minimum}), got {_shown(v)}"
    return None


def _numbers(v: object, key: str, what: str, lo: float = -np.inf) -> list[Problem]:
    if not isinstance(v, list):
        return [((key,), f"expected a list of numbers, got {_shown(v)}")]
    return [((key, j), m) for j, x in enumerate(v) if (m := _number(x, what, lo)) is not None]


def _texts(v: object, key: str) -> list[Problem]:
    if not isinstance(v, list):
        return [((key,), f"expected a list of text values, got {_shown(v)}")]
    hint = "text (quote values YAML reads as numbers or booleans)"
    return [
        ((key, j), f"expected {hint}, got {_shown(x)}")
        for j, x in enumerate(v)
        if not isinstance(x, str)
    ]


def _edge_problems(c: Mapping[str, Any]) -> list[Problem]:
    edges = c.get("edges", [])
    found = _numbers(edges, "edges", "a finite bin edge")
    if found:
        return found
    if c.get("kind") == "numeric" and not edges:
        return [(("edges",), "a numeric column needs at least one bin edge")]
    for j in range(1, len(edges)):
        if edges[j] <= edges[j - 1]:
            return [
                (("edges", j), f"edges must increase strictly; {edges[j]!r} after {edges[j - 1]!r}")
            ]
    return []


def _count_problems(c: Mapping[str, Any], bins_ok: bool) -> list[Problem]:
    counts = c.get("counts", [])
    found = _numbers(counts, "counts", "a bin count >= 0", lo=0.0)
    if found or not bins_ok or not counts:
        return found
    numeric = c.get("kind") == "numeric"
    n_bins = len(c.get("edges", [])) + 1 if numeric else len(c.get("categories", [])) + 1
    if len(counts) != n_bins:
        basis = "edges + 1" if numeric else "categories + 1 (__other__)"
        return [(("counts",), f"{len(counts)} counts for {n_bins} bins ({basis})")]
    return []


def _range_problems(c: Mapping[str, Any]) -> list[Problem]:
    found = [
        ((k,), m)
        for k in ("min", "max")
        if c.get(k) is not None and (m := _number(c[k], "a number or null")) is not None
    ]
    lo, hi = c.get("min"), c.get("max")
    if not found and lo is not None and hi is not None and lo > hi:
        found.append((("min",), f"min {lo!r} is above max {hi!r}"))
    return found


def _special_rate_problems(c: Mapping[str, Any]) -> list[Problem]:
    rates = c.get("special_rates", {})
    if not isinstance(rates, dict):
        return [(("special_rates",), f"expected a mapping value -> rate, got {_shown(rates)}")]
    found = [
        (("special_rates", k), m)
        for k, v in rates.items()
        if (m := _number(v, "a rate", 0.0, 1.0)) is not None
    ]
    if c.get("kind") == "numeric":
        for k in rates:
            try:
                float(k)
            except (TypeError, ValueError):
                found.append((("special_rates", k), f"special value {k!r} is not a number"))
    return found


def _special_key_problems(
    c: Mapping[str, Any], special_values: Sequence[float] | None
) -> list[Problem]:
    """``special_rates`` keys that nothing counts as special in a stored window.

    A window's null-rate baseline is the column's null rate plus *every* special rate, while
    the SDK counts only NaN, ±inf (key ``inf``), the contract's ``special_values`` and, in a
    categorical column, the empty string (key ``empty``). A hand-written ``'0': 0.4`` ("40%
    zeros are fine") thus raised the baseline by 0.4, and a window 40% null read healthy.
    ``special_values`` None (itself invalid, reported apart) skips the numeric keys."""
    rates = c.get("special_rates", {})
    if not isinstance(rates, dict):
        return []
    if c.get("kind") == "categorical":
        return [
            (
                ("special_rates", k),
                f"a categorical column's special value is 'empty' (the empty string), "
                f"got {k!r}; nulls go in null_rate",
            )
            for k in rates
            if k != "empty"
        ]
    if c.get("kind") != "numeric" or special_values is None:
        return []
    listed = ", ".join(_special_label(s) for s in special_values)
    found: list[Problem] = []
    for k in rates:
        try:
            value = float(k)
        except (TypeError, ValueError):
            continue  # reported by _special_rate_problems
        if not np.isinf(value) and value not in special_values:
            found.append(
                (
                    ("special_rates", k),
                    f"{k!r} is not in special_values [{listed}] (nor inf): the SDK does not "
                    "count it as special, so its rate would raise every window's null-rate "
                    "baseline; add it to special_values or remove it here",
                )
            )
    return found


def column_problems(c: Mapping[str, Any]) -> list[Problem]:
    """Every wrongly typed field of one column mapping (kind and unknown keys checked apart)."""
    found: list[Problem] = []
    if "name" in c:
        try:
            check_name(c["name"], "column")
        except InvalidName as exc:
            found.append((("name",), str(exc)))
    if "dtype" in c and not isinstance(c["dtype"], str):
        found.append((("dtype",), f"expected a dtype name, got {_shown(c['dtype'])}"))
    for k in ("null_rate", "unique_rate"):
        if k in c and (m := _number(c[k], "a rate", 0.0, 1.0)) is not None:
            found.append(((k,), m))
    if "unique" in c and not isinstance(c["unique"], bool):
        found.append((("unique",), f"expected true or false, got {_shown(c['unique'])}"))
    found += _special_rate_problems(c) + _range_problems(c)
    for k in ("domain", "categories"):
        found += _texts(c.get(k, []), k)
    edges = _edge_problems(c)
    # bins are counted per kind: an unknown kind (reported apart) has no bin count to check
    known_kind = c.get("kind") in ("numeric", "categorical")
    bins_ok = known_kind and not edges and not any(p[0][0] == "categories" for p in found)
    return found + edges + _count_problems(c, bins_ok=bins_ok)


def custom_problems(c: Mapping[str, Any]) -> list[Problem]:
    """Wrongly typed fields of one ``custom:`` entry (bounds are compared with floats)."""
    found: list[Problem] = [
        ((k,), m)
        for k in ("warning", "critical")
        if c.get(k) is not None and (m := _number(c[k], "a number or null")) is not None
    ]
    warn, crit = c.get("warning"), c.get("critical")
    if not found and warn is not None and crit is not None and warn > crit:
        found.append(
            (
                ("warning",),
                f"warning {warn!r} is above critical {crit!r}; expected warning <= critical "
                "(a check returns a badness: higher is worse)",
            )
        )
    if not isinstance(c.get("params", {}), dict):
        found.append(
            (("params",), f"expected a mapping of keyword arguments, got {_shown(c['params'])}")
        )
    if c.get("column") is not None and not isinstance(c["column"], str):
        found.append((("column",), f"expected a column name, got {_shown(c['column'])}"))
    return found


def top_level_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Wrongly typed top-level fields (``expected_rows: "1000"`` must not reach a division)."""
    found: list[Problem] = []
    if "model" in raw:
        try:
            check_name(raw["model"], "model")
        except InvalidName as exc:
            found.append((("model",), str(exc)))
    for key, what, minimum in (
        ("row_count", "a row count", 0),
        ("contract_version", "a version number", 1),
        ("expected_rows", "a row count or null", 0),
    ):
        if raw.get(key) is not None and (m := _count(raw[key], what, minimum)) is not None:
            found.append(((key,), m))
    for key, kind in (("columns", list), ("custom", list), ("thresholds", dict)):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            shape = "a list" if kind is list else "a mapping"
            found.append(((key,), f"expected {shape}, got {_shown(raw[key])}"))
    if "special_values" in raw:
        found += _numbers(raw["special_values"], "special_values", "a numeric special value")
    return found


def _section(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    """``raw[key]`` if it has the right shape, else empty (top_level_problems reports it)."""
    value = raw.get(key)
    return value if isinstance(value, kind) else kind()


def parse_contract(text: str, source: str = "<contract>") -> DataContract:
    """Parse contract text (YAML or JSON, which is YAML) collecting every issue."""
    contract, issues = parse_contract_partial(text, source)
    if issues:
        raise ConfigError(issues)
    return contract


def parse_contract_partial(
    text: str, source: str = "<contract>"
) -> tuple[DataContract, list[ConfigIssue]]:
    """The readable part of a contract, and every issue of the rest.

    A column or ``custom:`` entry with a problem is left out (named in ``skipped``) and the
    others kept, so ``contract validate`` reports the field's error and still checks the
    other columns. Problems that concern every column (YAML syntax, the top-level shape,
    ``model``, ``special_values``, ``thresholds``, ...) raise ConfigError: nothing could be
    checked right."""
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = SourcePos(source, mark.line + 1, mark.column + 1) if mark else SourcePos(source)
        raise ConfigError([ConfigIssue(pos, f"not valid YAML/JSON: {exc}")]) from exc
    marks = _marks(root)
    issues: list[tuple[tuple[object, ...], ConfigIssue]] = []

    def issue(path: tuple[object, ...], msg: str, context: str = "", mark: Any = None) -> None:
        m = mark or marks.get(path) or marks.get(path[:-1]) or marks.get(())
        pos = SourcePos(source, m.line + 1, m.column + 1) if m else SourcePos(source)
        field_name = ".".join(str(p) for p in path)
        issues.append((path, ConfigIssue(pos, msg, field_name, context)))

    if not isinstance(raw, dict):
        issue((), "expected a mapping with model and columns")
        raise ConfigError([i for _, i in issues])
    for path, again, first in _duplicate_keys(root):
        again_msg = f"duplicate key (first at line {first.line + 1}); write each key once"
        issue(path, again_msg, _context(raw, path), mark=again)
    for k in raw:
        if k not in _TOP_KEYS:
            issue((k,), f"unknown key; expected one of {sorted(_TOP_KEYS)}")
    for req in ("model", "columns"):
        if req not in raw:
            issue((), f"missing required key {req!r}")
    raw_columns = _section(raw, "columns", list)
    specials = raw.get("special_values", list(DEFAULT_SPECIAL_VALUES))
    known = None if _numbers(specials, "special_values", "") else [float(s) for s in specials]
    for i, c in enumerate(raw_columns):
        for sub, msg, where in _column_issues(i, c, known):
            issue(("columns", i, *sub), msg, where)
    for (i, j), name in _repeated_columns(raw_columns):
        first = marks.get(("columns", i, "name"))
        where = f" (first at line {first.line + 1})" if first else ""
        issue(("columns", j, "name"), f"column {name!r} is listed twice{where}", f"column {name}")
        issue(("columns", i, "name"), f"column {name!r} is listed again below", f"column {name}")
    names = {x.get("name") for x in raw_columns if isinstance(x, dict)}
    for i, c in enumerate(_section(raw, "custom", list)):
        for sub, msg, where in _custom_issues(c, names):
            issue(("custom", i, *sub), msg, where)
    thresholds = dict(DEFAULT_THRESHOLDS)
    for k, v in _section(raw, "thresholds", dict).items():
        if k not in DEFAULT_THRESHOLDS:
            issue(("thresholds", k), f"unknown check; expected one of {sorted(DEFAULT_THRESHOLDS)}")
        elif not (
            isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v) and v[0] <= v[1]
        ):
            issue(
                ("thresholds", k),
                f"expected [warning, critical] numbers, warning <= critical; got {v!r:.60}",
            )
        else:
            thresholds[k] = (float(v[0]), float(v[1]))
    for path, msg in top_level_problems(raw):
        issue(path, msg)
    fatal = [i for path, i in issues if not _skippable(path, raw)]
    if fatal:
        raise ConfigError([i for _, i in issues])
    bad = {path[:2] for path, _ in issues if path[:1] in (("columns",), ("custom",))}
    columns = {
        str(c["name"]): ColumnContract(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}
        )
        for i, c in enumerate(raw_columns)
        if ("columns", i) not in bad
    }
    skipped = tuple(
        dict.fromkeys(
            str(c.get("name", f"#{i + 1}")) if isinstance(c, dict) else f"#{i + 1}"
            for i, c in enumerate(raw_columns)
            if ("columns", i) in bad
        )
    )
    custom = tuple(
        CustomCheck(
            **{k: v for k, v in c.items() if k in _CUSTOM_KEYS},
            pos=_pos(source, marks.get(("custom", i))),
        )
        for i, c in enumerate(_section(raw, "custom", list))
        if ("custom", i) not in bad
    )
    contract = DataContract(
        model=raw["model"],
        columns=columns,
        row_count=int(raw.get("row_count") or 0),
        contract_version=int(raw.get("contract_version") or 1),
        created_from=str(raw.get("created_from") or ""),
        expected_rows=raw.get("expected_rows"),
        special_values=tuple(float(s) for s in raw.get("special_values", DEFAULT_SPECIAL_VALUES)),
        thresholds=thresholds,
        custom=custom,
        source=source,
        skipped=skipped,
    )
    return contract, [i for _, i in issues]


def _context(raw: Any, path: tuple[object, ...]) -> str:
    """``column amount`` / ``check neg_share`` for an issue inside that entry, else ``""``."""
    if not isinstance(raw, dict) or len(path) < 2 or not isinstance(path[1], int):
        return ""
    entries = raw.get(path[0])
    entry = entries[path[1]] if isinstance(entries, list) and path[1] < len(entries) else None
    if not isinstance(entry, dict):
        return ""
    if path[0] == "columns" and "name" in entry:
        return f"column {entry['name']}"
    if path[0] == "custom" and "check" in entry:
        return f"check {entry['check']}"
    return ""


def _pos(source: str, mark: Any) -> SourcePos:
    return SourcePos(source, mark.line + 1, mark.column + 1) if mark else SourcePos(source)


def _skippable(path: tuple[object, ...], raw: Mapping[str, Any]) -> bool:
    """Whether an issue at ``path`` only loses its own column, custom entry or unknown key."""
    if len(path) >= 2 and path[0] in ("columns", "custom") and isinstance(path[1], int):
        return True
    return len(path) == 1 and path[0] not in _TOP_KEYS and path[0] in raw


def _column_issues(
    i: int, c: object, special_values: Sequence[float] | None = None
) -> list[tuple[tuple[object, ...], str, str]]:
    """``(sub-path, message, context)`` of everything wrong with column entry ``i``; every
    message inside a mapping names its column (``column country``, else ``column #4``)."""
    if not isinstance(c, dict):
        return [((), "each column must be a mapping", "")]
    where = f"column {c.get('name', '#' + str(i + 1))}"
    found = [
        ((k,), f"unknown column key; expected one of {sorted(_COLUMN_KEYS)}")
        for k in c
        if k not in _COLUMN_KEYS
    ]
    if c.get("kind") not in ("numeric", "categorical"):
        found.append((("kind",), _kind_problem(c.get("kind"))))
    if "name" not in c or "dtype" not in c:
        found.append(((), "each column needs name and dtype"))
    found += column_problems(c) + _special_key_problems(c, special_values)
    return [(sub, msg, where) for sub, msg in found]


def _kind_problem(kind: object) -> str:
    """The message of a column's wrong ``kind``, with what it was and the likely intent."""
    if kind is None:
        return "missing kind: expected 'numeric' or 'categorical'"
    close = difflib.get_close_matches(str(kind), ["numeric", "categorical"], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"kind must be 'numeric' or 'categorical', got {_shown(kind)}{hint}"


def _custom_issues(c: object, columns: set[object]) -> list[tuple[tuple[object, ...], str, str]]:
    if not isinstance(c, dict) or "check" not in c:
        return [((), "each custom entry needs 'check: <registered name>'", "")]
    found = [
        ((k,), f"unknown key; expected one of {sorted(_CUSTOM_KEYS)}", "")
        for k in c
        if k not in _CUSTOM_KEYS
    ]
    found += [(sub, msg, f"check {c['check']}") for sub, msg in custom_problems(c)]
    if c.get("column") is not None and c["column"] not in columns:
        found.append((("column",), f"column {c['column']!r} is not in the contract", ""))
    return found


def _repeated_columns(raw_columns: list[Any]) -> list[tuple[tuple[int, int], str]]:
    """``((first index, repeat index), name)`` of every column name listed more than once:
    a second listing silently replaced the first, whichever of the two was right."""
    first: dict[str, int] = {}
    out = []
    for j, c in enumerate(raw_columns):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            continue
        if c["name"] in first:
            out.append(((first[c["name"]], j), c["name"]))
        else:
            first[c["name"]] = j
    return out


def _duplicate_keys(
    node: yaml.Node | None, path: tuple[object, ...] = ()
) -> Iterator[tuple[tuple[object, ...], Any, Any]]:
    """``(key path, mark of the repeat, mark of the first)`` of every key a mapping repeats.

    YAML loaders keep the last value silently, so ``min: 0.41`` then ``min: 50`` checked
    against 50; the rules loader refuses the same (modelhealth.rules.yamlnodes)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, Any] = {}
        for k, v in node.value:
            if k.tag == _MERGE_TAG or not isinstance(k, yaml.ScalarNode):
                continue
            if k.value in seen:
                yield (*path, k.value), k.start_mark, seen[k.value]
            else:
                seen[k.value] = k.start_mark
            yield from _duplicate_keys(v, (*path, k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _duplicate_keys(v, (*path, i))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension) with a clear error for anything else."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix == ".parquet":
        kind, read = "Parquet", pd.read_parquet
    elif p.suffix in (".csv", ".txt") or p.name.endswith(".csv.gz"):
        # CSV cannot tell "" from a missing cell: both are read as null (Parquet can)
        kind, read = "CSV", pd.read_csv
    else:
        raise ValueError(f"{p}: expected a .csv or .parquet file")
    try:
        return read(p)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{p}: the file is empty (expected a header row of column names)"
        ) from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        # pandas/pyarrow messages ("No columns to parse from file") do not name the file
        raise ValueError(f"{p}: cannot read it as {kind}: {exc}") from exc
