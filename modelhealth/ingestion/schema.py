"""The wire/table layout of everything the SDK emits: one place for names and columns.

Every sink writes these tables and every store backend reads them; the Pinot schemas in
``modelhealth/pinot_schemas/`` are checked against this module by a test.

Layout (why): Pinot cannot sum arrays, so a feature's histogram is stored as one row per
(bucket, model, version, feature, bin). Any window's distribution is then a plain
``SUM(count) ... GROUP BY bin`` on both DuckDB and Pinot. Raw per-request rows keep latency
and score so that percentiles are computed by the store itself.
"""

from __future__ import annotations

from dataclasses import dataclass

MISSING_MIN = 1.0e308
"""Stored as ``min`` when a bucket has no valid numeric value (MIN() then ignores it)."""
MISSING_MAX = -1.0e308
"""Stored as ``max`` when a bucket has no valid numeric value (MAX() then ignores it)."""

OTHER_CATEGORY = "__other__"
"""Label of the bin that collects categorical values unseen in the reference."""

MAX_LABEL_CHARS = 256
"""Longest bin label stored, in characters (Python code points); longer labels are cut.

Pinot cuts every STRING value to its ``maxLength`` (default 512, counted in Java chars, i.e.
UTF-16 units; our schemas set none) and at its first NUL, while DuckDB keeps any string
whole, so a 600-character category or ``"trail\x00"`` was one label in DuckDB and another in
Pinot. 256 code points are at most 512 UTF-16 units (1024 UTF-8 bytes), safely inside
Pinot's limit whichever way it counts, so the SDK stores labels both stores keep as they are.
"""

NUL_REPLACEMENT = "\ufffd"
"""What a NUL in a stored label becomes (U+FFFD REPLACEMENT CHARACTER)."""


def stored_label(text: str) -> str:
    """``text`` as both stores keep it: NULs replaced by U+FFFD, cut to MAX_LABEL_CHARS.

    Only the stored *label* changes; values still match reference categories by their exact
    text, and bins stay apart by their index even if two labels end up alike.
    """
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    return text[:MAX_LABEL_CHARS]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of LONG, DOUBLE, STRING, INT
    role: str  # "time", "dimension" or "metric" (Pinot field kinds)


@dataclass(frozen=True)
class Table:
    """A logical table: its Kafka topic and Pinot table share this name with a prefix."""

    name: str
    columns: tuple[Column, ...]

    @property
    def topic(self) -> str:
        return f"modelhealth.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, role: str = "dimension") -> Column:
    return Column(name, type_, role)


INFERENCES = Table(
    "inferences",
    (
        _c("ts", "LONG", "time"),
        _c("model", "STRING"),
        _c("version", "STRING"),
        _c("host", "STRING"),
        _c("request_id", "STRING"),
        _c("score", "DOUBLE", "metric"),
        _c("latency_ms", "DOUBLE", "metric"),
        _c("is_error", "INT", "metric"),
    ),
)

FEATURE_STATS = Table(
    "feature_stats",
    (
        _c("ts", "LONG", "time"),
        _c("model", "STRING"),
        _c("version", "STRING"),
        _c("feature", "STRING"),
        _c("kind", "STRING"),
        _c("count", "LONG", "metric"),
        _c("nulls", "LONG", "metric"),
        _c("specials", "LONG", "metric"),
        _c("valid", "LONG", "metric"),
        _c("sum", "DOUBLE", "metric"),
        _c("sum_sq", "DOUBLE", "metric"),
        _c("min", "DOUBLE", "metric"),
        _c("max", "DOUBLE", "metric"),
    ),
)

FEATURE_BINS = Table(
    "feature_bins",
    (
        _c("ts", "LONG", "time"),
        _c("model", "STRING"),
        _c("version", "STRING"),
        _c("feature", "STRING"),
        _c("bin", "INT"),
        _c("label", "STRING"),
        _c("count", "LONG", "metric"),
    ),
)

OUTCOMES = Table(
    "outcomes",
    (
        _c("ts", "LONG", "time"),
        _c("model", "STRING"),
        _c("request_id", "STRING"),
        _c("label", "DOUBLE", "metric"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (INFERENCES, FEATURE_STATS, FEATURE_BINS, OUTCOMES)}

PARKED_TOPIC = "modelhealth.parked"
"""Dead-letter topic for events that failed validation (with their reason)."""
