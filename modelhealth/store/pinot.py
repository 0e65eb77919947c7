"""Apache Pinot backend: the same :class:`~modelhealth.store.backend.QueryBackend` answers as
DuckDB, read from the REALTIME tables that Kafka feeds (``modelhealth pinot init``).

All Pinot SQL of modelhealth lives in :mod:`modelhealth.store.pinot_sql` (its answers are
shaped as DuckDB's by :mod:`modelhealth.store.pinot_frames`); this module connects to the broker
and runs the statements. Values travel through pinotdb's parameter binding (``%(name)s``,
strings quoted and escaped by pinotdb); model/version/host/feature names are validated by
:class:`Scope` / :func:`check_features` first anyway. The only text formatted into SQL is fixed
fragments, validated table names and ``int`` bucket sizes.

Differences from DuckDB, and why they are bounded:

- **Percentiles** use Pinot's exact ``PERCENTILE(col, p)``: it sorts the window's values and
  returns the order statistic ``x[floor(n * p)]`` (0-based, clamped to ``n - 1``). DuckDB's
  ``quantile_cont`` interpolates linearly at rank ``(n - 1) * p``. Both ranks fall in
  ``[k, k + 1]`` with ``k = floor((n - 1) * p)``, so the two answers differ by at most the gap
  between two adjacent order statistics, ``x[k + 1] - x[k]`` (:data:`PERCENTILE_RANK_ERROR` =
  1 rank). The parity test asserts exactly that bound. (t-digest/KLL sketches would be cheaper
  at scale, but Pinot 0.11 has no KLL and t-digest's error is data-dependent.)
- **std** of the score is ``sqrt(E[x^2] - E[x]^2)`` from ``SUM(score * score)`` (Pinot 0.11
  has no ``STDDEV_POP``; DuckDB's ``stddev_pop`` is exact). Its relative error is about
  ``eps * (mean / std)^2`` (``eps`` = 2.2e-16): ~1e-9 or better while ``|mean| / std`` stays
  below ~1e3 (scores in [0, 1], centred regression outputs), but noise for scores like
  1e9 + N(0, 1) (40.8 instead of 1.02). It is capped at ``(max - min) / 2`` and is 0 when
  min = max (``backend.std_from_moments``). An exact answer would need a second query per
  frame (``SUM((score - m) * (score - m))`` with each bucket's mean ``m`` from the first), so
  it is not done; feature std has the same bound on both backends (it comes from stored sums).
- **kind** / **label** are grouped on (Pinot has no ``any_value``), and DuckDB groups on them
  too: a feature that changed kind, or a bin whose label differs between two references,
  comes back as the same rows from both (``backend.finish_summary`` merges the kinds).
- **outcomes()** joins in pandas after two queries (Pinot 0.11's multi-stage engine is not
  available/stable for joins): labels of the model, then the window's inferences, restricted to
  the labelled request ids when there are at most :data:`MAX_IN_LIST` of them.
- **Fleet queries** (``fleet_latency``, ``fleet_score``, ``fleet_feature_summary``,
  ``fleet_feature_histograms``) answer as DuckDB's, one query for a list of models (the rules
  engine and the dashboard's Fleet page use them when a store has them); the list is one
  bound ``model IN (...)`` parameter of names checked by ``check_name``.
- Group-by queries fail loudly (``StoreUnavailable``) if Pinot reports that its per-server
  group limit was reached rather than returning a silently truncated answer.
"""

from __future__ import annotations

import time
import urllib.parse

import pandas as pd

from modelhealth.clock import Clock, SystemClock
from modelhealth.errors import StoreUnavailable
from modelhealth.pinot_schemas import table_name
from modelhealth.store.pinot_frames import TEXT_COLUMNS
from modelhealth.store.pinot_sql import MAX_IN_LIST, NO_MODEL, PinotQueries

__all__ = [
    "MAX_IN_LIST",
    "MAX_ROWS",
    "NO_MODEL",
    "PERCENTILE_RANK_ERROR",
    "TEXT_COLUMNS",
    "PinotQueries",
    "PinotStore",
]

PERCENTILE_RANK_ERROR = 1
"""Pinot's percentile is an order statistic at most this many ranks from DuckDB's (see above)."""

MAX_ROWS = 10_000_000
"""LIMIT of every query: Pinot's default is 10 rows, which would silently truncate answers."""


class PinotStore(PinotQueries):
    """Queries the Pinot broker; ``PinotStore()`` talks to the local services.

    >>> store = PinotStore("http://127.0.0.1:8099")  # doctest: +SKIP
    >>> store.latency(Scope("fraud", start_ms, end_ms), step_ms=3_600_000)  # doctest: +SKIP
    """

    def __init__(
        self,
        broker_url: str | None = None,
        *,
        namespace: str = "",
        timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        import httpx
        import pinotdb

        from modelhealth.services import ports

        self.broker_url = broker_url or ports.PINOT_BROKER_URL
        url = urllib.parse.urlparse(self.broker_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"broker URL must look like http://host:8099, got {broker_url!r}")
        self.namespace = namespace
        self.tables = {n: table_name(n, namespace) for n in _LOGICAL}
        self.clock = clock or SystemClock()
        self._session = httpx.Client(timeout=timeout)
        self._con = pinotdb.connect(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 80),
            path="/query/sql",
            scheme=url.scheme,
            timeout=timeout,
            session=self._session,
        )

    # -- helpers ---------------------------------------------------------------------------
    def _query(self, sql: str, params: dict[str, object] | None = None) -> pd.DataFrame:
        """Run one statement; LIMIT is appended here so no query forgets it."""
        import pinotdb

        cur = self._con.cursor()
        try:
            cur.execute(f"{sql} LIMIT {MAX_ROWS}", params or None)
            rows = cur.fetchall()
        except (pinotdb.exceptions.Error, OSError, Exception) as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(f"pinot query failed ({self.broker_url}): {exc}") from exc
        # pinotdb keeps the broker's JSON under "response" (the group-limit check read the
        # wrapper before, so it never fired)
        raw = cur.raw_query_response if isinstance(cur.raw_query_response, dict) else {}
        payload = raw.get("response")
        _check_complete(payload if isinstance(payload, dict) else {}, self.broker_url, sql)
        names = [d[0] for d in cur.description or []]
        if not rows:  # typed like DuckDB's empty answers, not all-object columns
            return pd.DataFrame(
                {n: pd.Series(dtype=object if n in TEXT_COLUMNS else "float64") for n in names}
            )
        return pd.DataFrame.from_records(rows, columns=names)

    def wait_for_rows(self, table: str, n: int, timeout: float = 120.0) -> int:
        """Block until Pinot has consumed at least ``n`` rows of ``table``; return the count.

        Kafka -> Pinot is asynchronous, so a caller that just produced ``n`` rows waits here
        before querying. Raises ``TimeoutError`` with the count reached.
        """
        deadline = self.clock.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                have = self.count(table)
            except StoreUnavailable:  # a table created a moment ago is briefly unknown
                have = -1
            if have >= n:
                return have
            if self.clock.monotonic() >= deadline:
                raise TimeoutError(f"pinot table {self.tables[table]} has {have} of {n} rows")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def close(self) -> None:
        self._con.close()
        self._session.close()


_LOGICAL = ("inferences", "feature_stats", "feature_bins", "outcomes")


def _check_complete(raw: dict[str, object], broker: str, sql: str) -> None:
    """Raise StoreUnavailable unless ``raw`` (the broker's JSON) is a whole answer.

    With its servers down, a broker still answers HTTP 200: no ``resultTable``, no
    exception, ``numServersQueried`` 0. Read as an empty result, that was "no traffic": a
    ``count below`` rule paged critical for every model, other rules failed on missing
    columns, and the MonitoringBlind alert, which needs StoreUnavailable, never fired. A
    server that did not respond, or the group limit, would make the answer partial.
    """
    if not raw:
        return
    if raw.get("exceptions"):
        raise StoreUnavailable(f"pinot answered with errors ({broker}): {raw['exceptions']}")
    if "resultTable" not in raw:
        raise StoreUnavailable(
            f"pinot broker {broker} answered without a result: no server answered"
            f" (numServersQueried={raw.get('numServersQueried')}); is pinot-server up?"
        )
    queried, responded = raw.get("numServersQueried"), raw.get("numServersResponded")
    if isinstance(queried, int) and isinstance(responded, int) and responded < queried:
        raise StoreUnavailable(
            f"only {responded} of {queried} pinot servers answered; the answer would be partial"
        )
    if raw.get("numGroupsLimitReached"):
        raise StoreUnavailable(f"pinot group limit reached, answer would be partial: {sql}")
