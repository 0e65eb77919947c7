"""Field types of a contract file: a hand-edited file must fail at load with a position.

Each check returns :data:`Problem` pairs (sub-path, message); :mod:`modelhealth.contracts.parse`
places them at their file:line:col.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelhealth.contracts.specials import _special_label
from modelhealth.errors import InvalidName
from modelhealth.names import check_name

Problem = tuple[tuple[object, ...], str]
"""A sub-path below the node being checked (``("edges", 3)``) and what is wrong there."""


def _is_number(v: object) -> bool:
    """int or float, but not bool (YAML ``yes`` is True, and True is an int)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def _shown(v: object) -> str:
    return f"{type(v).__name__} {v!r:.40}"


def _is_finite(v: object) -> bool:
    """Whether ``v`` is a number a float can hold, not NaN or ±inf: ``10**400`` is an int
    no float holds (``np.isfinite`` raised TypeError on it, a traceback from the loader)."""
    if not _is_number(v):
        return False
    try:
        return math.isfinite(v)  # type: ignore[arg-type]
    except OverflowError:
        return False


def _number(v: object, what: str, lo: float = -np.inf, hi: float = np.inf) -> str | None:
    """Why ``v`` is no finite number in [lo, hi], or None if it is one."""
    if not _is_finite(v):
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
