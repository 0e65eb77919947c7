"""The counters a Monitor keeps (:class:`IngestStats`), and how a sink's error adds to them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelhealth.ingestion.batch import USER_ROWS

UNKNOWN_TABLE = "unknown"
"""``dropped_by_table`` key of rows a sink says it lost without saying of which table."""


@dataclass
class IngestStats:
    """Counters a model server can export: accepted, parked (by reason, in events/rows),
    flushes, failed sink writes, and rows dropped because the sink stayed down too long.

    ``dropped_rows`` counts dropped predictions, labels and parked records: rows that each
    stand for one thing the user logged (:data:`~modelhealth.ingestion.batch.USER_ROWS`), so
    ``dropped_rows == 12`` means 12 of those never reach the store. ``dropped_by_table``
    breaks the drops down per table (``inferences``, ``outcomes``, ``parked``) and also
    counts the aggregate rows dropped with them (``feature_stats``, ``feature_bins``, which
    are not in ``dropped_rows``: their count says nothing about how many predictions they
    summarised); its user tables sum to ``dropped_rows``.

    ``unexpected_errors`` counts exceptions ``log``, ``log_batch``, ``log_outcome`` or a
    flush raised that the SDK did not expect and contained (see :meth:`Monitor._contain`);
    ``last_unexpected_error`` names the last one. Its events are parked as
    ``unexpected_error`` (or, if not even that worked, counted in ``dropped_rows``).
    """

    accepted: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    flushes: int = 0
    outcomes: int = 0
    flush_errors: int = 0
    last_flush_error: str = ""
    dropped_rows: int = 0
    dropped_by_table: Counter[str] = field(default_factory=Counter)
    unexpected_errors: int = 0
    last_unexpected_error: str = ""

    @property
    def parked_total(self) -> int:
        return sum(self.parked.values())

    def count_dropped(self, rows_by_table: Mapping[str, int]) -> None:
        """Add drops per table; a table this SDK does not know (a third-party sink's
        ``lost`` without a breakdown, see :data:`UNKNOWN_TABLE`) counts as user rows, so
        ``dropped_rows`` never undercounts."""
        for table, rows in rows_by_table.items():
            if rows:
                self.dropped_by_table[table] += rows
                if table in USER_ROWS or table == UNKNOWN_TABLE:
                    self.dropped_rows += rows


def lost_by_table(exc: BaseException) -> dict[str, int]:
    """The rows a sink's error says are lost for good, per table: Kafka's ``lost_by_table``,
    or a plain ``lost`` count (a sink without the breakdown) under :data:`UNKNOWN_TABLE`."""
    by_table = getattr(exc, "lost_by_table", None)
    if by_table:
        return dict(by_table)
    lost = int(getattr(exc, "lost", 0) or 0)
    return {UNKNOWN_TABLE: lost} if lost else {}


def describe(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, cut to 500 characters; never raises (an
    exception of the caller's own may fail in ``__str__`` too)."""
    try:
        text = str(exc)
    except Exception:
        text = "<str() failed>"
    return f"{type(exc).__name__}: {text}"[:500]
