"""Reference (training) profiles: the fixed bin edges and categories features are counted in.

Fixing the bins from a reference sample is what keeps every window's histogram comparable
with the baseline and with every other window: drift metrics are then sums over bins.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from modelhealth.errors import FILE_ERRORS, why_unusable
from modelhealth.ingestion.schema import NUL_REPLACEMENT, OTHER_CATEGORY
from modelhealth.names import check_name

DEFAULT_SPECIAL_VALUES: tuple[float, ...] = (-1.0, -999999.0)
"""Numeric sentinels that pipelines use for "unknown"; NaN and ±inf always count as special
too (an infinite value would make every sum and mean over the window NaN)."""

HUGE = 1e150
"""Finite values beyond this (in absolute value) count as special, in references as in the
SDK: their square would overflow the window's sum of squares to inf, which the Kafka sink
refuses (blocking the whole batch). A reference that kept them as valid values binned 10% of
1e200 into its overflow bin while the SDK counted them special: PSI 0.74 on identical data."""

NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "boolean"})
"""``pandas.api.types.infer_dtype`` answers (nulls skipped) of object columns holding numbers
and bools only: such a column is numeric, as the SDK judges values by their type."""


@dataclass(frozen=True)
class FeatureReference:
    """How one feature is binned, and its reference distribution over those bins.

    Numeric bins: ``edges`` e0 < … < ek give k+2 bins: 0 is underflow (< e0), i in 1..k is
    [e(i-1), e(i)), and k+1 is overflow (>= ek). Categorical bins: one per category, then
    the ``__other__`` bin.
    """

    name: str
    kind: str  # "numeric" or "categorical"
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    counts: tuple[float, ...] = ()
    special_values: tuple[float, ...] = DEFAULT_SPECIAL_VALUES
    null_rate: float = 0.0
    special_rate: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name, "feature")
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {self.name}: kind must be numeric or categorical")
        if self.kind == "numeric" and len(self.edges) < 1:
            raise ValueError(f"feature {self.name}: numeric features need bin edges")
        if self.counts and len(self.counts) != self.n_bins:
            raise ValueError(
                f"feature {self.name}: {len(self.counts)} counts for {self.n_bins} bins"
            )

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    def bin_labels(self) -> list[str]:
        if self.kind == "categorical":
            return [*self.categories, OTHER_CATEGORY]
        e = self.edges
        # the bin [max, nextafter(max)) of quantile_edges holds the training max only
        point = [b <= np.nextafter(a, np.inf) for a, b in itertools.pairwise(e)]
        return [
            f"<{e[0]:.4g}",
            *(
                f"={a:.4g}" if p else f"[{a:.4g},{b:.4g})"
                for (a, b), p in zip(itertools.pairwise(e), point, strict=True)
            ),
            f">{e[-2]:.4g}" if point and point[-1] else f">={e[-1]:.4g}",
        ]

    def distribution(self) -> np.ndarray:
        """Reference probabilities per bin (zeros if the profile carries no counts)."""
        c = np.asarray(self.counts, dtype=np.float64)
        if c.size == 0 or c.sum() == 0:
            return np.zeros(self.n_bins)
        return c / c.sum()


@dataclass(frozen=True)
class ModelReference:
    """The reference profile of one model: a FeatureReference per feature."""

    model: str
    features: Mapping[str, FeatureReference] = field(default_factory=dict)
    score_edges: tuple[float, ...] = ()
    score_counts: tuple[float, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "score_edges": list(self.score_edges),
                "score_counts": list(self.score_counts),
                "features": [f.__dict__ for f in self.features.values()],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelReference:
        """Parse a saved profile; ValueError (or KeyError, TypeError) for one of the wrong
        shape, so a hand-edited bin is refused when the profile is loaded, not at every
        evaluation that bins with it."""
        raw = json.loads(text)
        feats = {}
        for f in raw["features"]:
            f = {k: tuple(v) if isinstance(v, list) else v for k, v in f.items()}
            _check_bins(f"feature {f.get('name')!r}", f.get("edges", ()), f.get("counts", ()))
            if not all(isinstance(c, str) for c in f.get("categories", ())):
                raise ValueError(f"feature {f.get('name')!r}: categories must be a list of text")
            for key in ("null_rate", "special_rate"):
                if not _is_finite_number(f.get(key, 0.0)):
                    raise ValueError(f"feature {f.get('name')!r}: {key} must be a number")
            feats[f["name"]] = FeatureReference(**f)
        score_edges = raw.get("score_edges", ())
        score_counts = raw.get("score_counts", ())
        _check_bins("score", score_edges, score_counts)
        return cls(
            model=raw["model"],
            features=feats,
            score_edges=tuple(score_edges),
            score_counts=tuple(score_counts),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> ModelReference:
        return cls.from_json(Path(path).read_text())


def _is_finite_number(v: object) -> bool:
    """int or float (not bool), finite, and within what a float holds (not ``10**400``)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return bool(np.isfinite(float(v)))
    except OverflowError:
        return False


def _check_bins(what: str, edges: object, counts: object) -> None:
    """ValueError unless ``edges`` are finite numbers, strictly increasing, and ``counts``
    finite numbers >= 0: a string, null or NaN edge loaded fine and then raised a numpy
    TypeError at every window binned against it."""
    for key, values in (("edges", edges), ("counts", counts)):
        if not isinstance(values, list | tuple) or not all(map(_is_finite_number, values)):
            raise ValueError(f"{what}: {key} must be a list of finite numbers")
    if any(b <= a for a, b in itertools.pairwise(edges)):  # type: ignore[call-overload]
        raise ValueError(f"{what}: edges must increase strictly")
    if any(c < 0 for c in counts):  # type: ignore[union-attr]
        raise ValueError(f"{what}: counts must be >= 0")


def load_reference(path: str | Path) -> ModelReference | str:
    """The profile at ``path``, or why it cannot be used (for callers that go on without it:
    config validation names the file, the dashboard warns and draws the rest)."""
    try:
        return ModelReference.load(path)
    except FILE_ERRORS as exc:
        return why_unusable(exc, "a reference profile")
    except RecursionError:  # json's decoder recurses: 100,000 '[' raised it through the caller
        return "is not a reference profile (JSON nested too deeply)"


def quantile_edges(values: np.ndarray, bins: int = 10) -> tuple[float, ...]:
    """Bin edges at reference quantiles (deduplicated, so constant columns work), then one
    edge just above the training maximum.

    That last edge (``nextafter(max, inf)``) gives values above anything seen in training an
    overflow bin of their own: with the maximum as the last edge, the ``>= max`` bin held
    the training maximum too, so a feature constant at 3.0 (or discrete in {0, 1, 2}) showed
    no drift at all when production moved to 1000. The bin before it holds the maximum only.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0,)
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1))
    edges = np.unique(qs)
    above_max = np.nextafter(edges[-1], np.inf)
    return (*(float(x) for x in edges), float(above_max))


def numeric_bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value per the FeatureReference convention: the number of edges <= v.

    For the ~10 edges we use, k vectorised comparisons beat a binary search per value.
    NaN compares false everywhere and lands in bin 0 (callers exclude NaN as special).
    """
    if edges.size > 32:
        return np.searchsorted(edges, values, side="right")
    idx = np.zeros(values.shape, dtype=np.uint8)
    for e in edges:
        idx += values >= e
    return idx.astype(np.intp)


def category_key(text: str) -> str:
    """The text a categorical value is matched by: NUL replaced by U+FFFD, as
    :func:`modelhealth.ingestion.schema.stored_label` stores labels.

    The reference and the SDK both match by this key, so "DE\x00junk" is never "DE" (pandas
    hashes all-string columns as C strings, which end at the first NUL) and "DE\x00junk" and
    "DE\ufffdjunk", one stored label, are one category.
    """
    return text.replace("\x00", NUL_REPLACEMENT) if "\x00" in text else text


def object_nulls(values: np.ndarray) -> np.ndarray:
    """Null mask of a numeric object column: None and pd.NA are nulls, a float NaN is not
    (it is a special value, a pipeline's "unknown"), as the SDK counts them."""
    missing = np.asarray(pd.isna(values), dtype=bool)
    if missing.any():
        at = np.flatnonzero(missing)
        missing[at] = [not isinstance(values[i], (float, np.floating)) for i in at]
    return missing


def special_mask(values: np.ndarray, special_values: Iterable[float]) -> np.ndarray:
    """Special numeric values: NaN, ±inf, |x| > :data:`HUGE` and the listed sentinels."""
    special = ~np.isfinite(values) | (np.abs(values) > HUGE)
    sentinels = list(special_values)
    if sentinels:
        special |= np.isin(values, sentinels)
    return special


def is_numeric_column(s: pd.Series) -> bool:
    """Numeric dtypes (bool, nullable Int64/boolean included), and object columns holding
    only numbers and bools besides nulls: ``[True, False, None]`` is a bool column with a
    missing value, as it is to the SDK, not the categories "True" and "False"."""
    if s.dtype == object:
        return pd.api.types.infer_dtype(s, skipna=True) in NUMERIC_INFERRED
    return bool(pd.api.types.is_numeric_dtype(s))


def _numeric_nulls(s: pd.Series) -> np.ndarray:
    """None and pd.NA are nulls (an object column, or a nullable Int64/boolean/Float64 one);
    NaN of a float column is a special value."""
    if s.dtype == object:
        return object_nulls(s.to_numpy())
    if isinstance(s.dtype, np.dtype):
        return np.zeros(len(s), dtype=bool)
    return s.isna().to_numpy(dtype=bool)


def build_feature_reference(
    name: str,
    column: pd.Series | np.ndarray | Iterable[object],
    bins: int = 10,
    max_categories: int = 50,
    special_values: tuple[float, ...] = DEFAULT_SPECIAL_VALUES,
) -> FeatureReference:
    """Profile one reference column: numeric if :func:`is_numeric_column`, else categorical.

    Nulls and special values are counted as the SDK counts them when it aggregates the same
    values, so identical training and production data read no drift: numeric nulls are None
    and pd.NA (NaN, ±inf, |x| > HUGE and ``special_values`` are special); categorical nulls
    are every missing value (None, NaN, pd.NA, a Categorical's missing code), and the empty
    string is special.
    """
    s = pd.Series(column) if not isinstance(column, pd.Series) else column
    if is_numeric_column(s):
        return _numeric_reference(name, s, bins, special_values)
    return _categorical_reference(name, s, max_categories, special_values)


def _numeric_reference(
    name: str, s: pd.Series, bins: int, special_values: tuple[float, ...]
) -> FeatureReference:
    n = max(len(s), 1)
    nulls = _numeric_nulls(s)
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    special = special_mask(v, special_values) & ~nulls
    valid = v[~nulls & ~special]
    edges = quantile_edges(valid, bins)
    idx = numeric_bin_index(valid, np.asarray(edges))
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return FeatureReference(
        name=name,
        kind="numeric",
        edges=edges,
        counts=tuple(float(c) for c in counts),
        special_values=special_values,
        null_rate=float(nulls.sum()) / n,
        special_rate=float(special.sum()) / n,
    )


def _categorical_reference(
    name: str, s: pd.Series, max_categories: int, special_values: tuple[float, ...]
) -> FeatureReference:
    n = max(len(s), 1)
    nulls = s.isna().to_numpy(dtype=bool)
    # str of each value, as the SDK matches values: 101 is "101", True is "True"
    text = s[~nulls].astype(str).astype(object)
    empties = text == ""
    text = text[~empties]
    has_nul = bool(text.str.contains("\x00", regex=False).any())
    keys = text.map(category_key) if has_nul else text
    top = keys.value_counts().head(max_categories)
    categories = tuple(str(c) for c in top.index)
    if has_nul:  # a category keeps its first text (NUL and all); it is matched by its key
        first = dict(zip(keys.iloc[::-1], text.iloc[::-1], strict=True))
        categories = tuple(str(first[k]) for k in top.index)
    codes = pd.Categorical(keys, categories=list(top.index)).codes
    counts = np.bincount(np.where(codes < 0, len(categories), codes), minlength=len(categories) + 1)
    return FeatureReference(
        name=name,
        kind="categorical",
        categories=categories,
        counts=tuple(float(c) for c in counts),
        special_values=special_values,
        null_rate=float(nulls.sum()) / n,
        special_rate=float(empties.sum()) / n,
    )


def build_reference(
    model: str,
    frame: pd.DataFrame,
    score: pd.Series | np.ndarray | None = None,
    bins: int = 10,
) -> ModelReference:
    """Profile a training DataFrame (one column per feature) into a ModelReference."""
    check_name(model, "model")
    feats = {str(c): build_feature_reference(str(c), frame[c], bins=bins) for c in frame.columns}
    score_edges: tuple[float, ...] = ()
    score_counts: tuple[float, ...] = ()
    if score is not None:
        sv = np.asarray(score, dtype=np.float64)
        score_edges = quantile_edges(sv, bins)
        score_counts = tuple(
            float(c)
            for c in np.bincount(
                numeric_bin_index(sv, np.asarray(score_edges)), minlength=len(score_edges) + 1
            )
        )
    return ModelReference(
        model=model, features=feats, score_edges=score_edges, score_counts=score_counts
    )
