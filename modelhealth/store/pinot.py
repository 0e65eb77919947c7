"""Apache Pinot backend: the same :class:`~modelhealth.store.backend.QueryBackend` answers as
DuckDB, read from the REALTIME tables that Kafka feeds (``modelhealth pinot init``).

All Pinot SQL of modelhealth lives in this module. Values travel through pinotdb's parameter
binding (``%(name)s``, strings quoted and escaped by pinotdb); model/version/host/feature names
are validated by :class:`Scope` / :func:`check_features` first anyway. The only text formatted
into SQL is fixed fragments, validated table names and ``int`` bucket sizes.

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
from collections.abc import Sequence

import pandas as pd

from modelhealth.clock import Clock, SystemClock
from modelhealth.errors import StoreUnavailable
from modelhealth.names import check_name
from modelhealth.pinot_schemas import table_name
from modelhealth.store.backend import (
    LABEL_SKEW_MS,
    LATENCY_QUANTILES,
    Scope,
    check_edges,
    check_feature_scope,
    check_features,
    check_model_filter,
    check_version_filter,
    finish_summary,
    std_from_moments,
)

PERCENTILE_RANK_ERROR = 1
"""Pinot's percentile is an order statistic at most this many ranks from DuckDB's (see above)."""

MAX_ROWS = 10_000_000
"""LIMIT of every query: Pinot's default is 10 rows, which would silently truncate answers."""

MAX_IN_LIST = 10_000
"""outcomes(): above this many labelled ids, read the whole window instead of an IN list."""


class PinotStore:
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

    def _where(
        self, scope: Scope, features: list[str] | None = None
    ) -> tuple[str, dict[str, object]]:
        clauses = ["model = %(model)s", "ts >= %(start)s", "ts < %(end)s"]
        params: dict[str, object] = {
            "model": scope.model,
            "start": int(scope.start_ms),
            "end": int(scope.end_ms),
        }
        if scope.version is not None:
            clauses.append('"version" = %(version)s')
            params["version"] = scope.version
        if scope.host is not None:
            clauses.append("host = %(host)s")
            params["host"] = scope.host
        if features is not None:
            if not features:  # no feature is named "" (Pinot answers HTTP 500 to "1 = 0")
                clauses.append("feature = %(no_feature)s")
                params["no_feature"] = ""
            else:
                clauses.append("feature IN (%(features)s)")
                params["features"] = list(features)
        return " AND ".join(clauses), params

    @staticmethod
    def _bucket(step_ms: int | None) -> str:
        """The bucket-start expression (Pinot 0.11 cannot GROUP BY an alias)."""
        if step_ms is None:
            return ""
        step = int(step_ms)
        if step <= 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        return f"ts - MOD(ts, {step})"

    @staticmethod
    def _grouped(select: str, keys: Sequence[str], rest: str) -> str:
        """``SELECT keys..., select FROM rest GROUP BY keys ORDER BY keys``."""
        keys = [k for k in keys if k]
        if not keys:
            return f"SELECT {select} FROM {rest}"
        head = ", ".join(f"{k} AS bucket" if "MOD(" in k else k for k in keys)
        order = ", ".join(keys)
        return f"SELECT {head}, {select} FROM {rest} GROUP BY {order} ORDER BY {order}"

    # -- queries -------------------------------------------------------------------------------
    def models(self) -> list[str]:
        df = self._query(f"SELECT DISTINCT model FROM {self.tables['inferences']} ORDER BY model")
        return [str(m) for m in df["model"]] if len(df) else []

    def versions(self, model: str) -> list[str]:
        sql = (
            f'SELECT DISTINCT "version" FROM {self.tables["inferences"]} '
            'WHERE model = %(model)s ORDER BY "version"'
        )
        df = self._query(sql, {"model": model})
        return [str(v) for v in df["version"]] if len(df) else []

    def time_range(
        self, model: str | None = None, version: str | None = None
    ) -> tuple[int, int] | None:
        where, params = ("", {})
        if check_model_filter(model) is not None:
            where, params = "WHERE model = %(model)s", {"model": model}
        if check_version_filter(model, version) is not None:
            where += ' AND "version" = %(version)s'
            params["version"] = version
        df = self._query(
            f"SELECT COUNT(*) AS n, MIN(ts) AS lo, MAX(ts) AS hi FROM {self.tables['inferences']} "
            + where,
            params,
        )
        if df.empty or int(df["n"].iloc[0]) == 0:
            return None
        return int(df["lo"].iloc[0]), int(df["hi"].iloc[0])

    def latency(
        self, scope: Scope, step_ms: int | None = None, by_version: bool = False
    ) -> pd.DataFrame:
        return self._latency(*self._where(scope), step_ms, by_version)

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._score(*self._where(scope), step_ms)

    def score_histogram(self, scope: Scope, edges: Sequence[float]) -> pd.DataFrame:
        """Cumulative counts ``#(score >= edge)`` in one pass; bins are their differences."""
        values = check_edges(edges)
        where, params = self._where(scope)
        parts = ['COUNT(*) AS "n"']
        for i, edge in enumerate(values):
            params[f"e{i}"] = edge
            parts.append(f"SUM(CASE WHEN score >= %(e{i})s THEN 1 ELSE 0 END) AS ge{i}")
        row = self._query(
            f"SELECT {', '.join(parts)} FROM {self.tables['inferences']} WHERE {where}", params
        ).iloc[0]
        # With sorted edges, bin b holds #(>= edge[b-1]) - #(>= edge[b]); bin = #edges <= score.
        at_least = [int(row["n"])] + [int(row[f"ge{i}"]) for i in range(len(values))] + [0]
        counts = [at_least[b] - at_least[b + 1] for b in range(len(values) + 1)]
        out = pd.DataFrame({"bin": range(len(counts)), "count": counts})
        out = out[out["count"] > 0].reset_index(drop=True)
        return out.astype({"bin": "int64", "count": "int64"})

    def feature_summary(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        where, params = self._where(check_feature_scope(scope), check_features(features))
        return self._summary(where, params, step_ms, by_version)

    def feature_histograms(
        self,
        scope: Scope,
        features: Sequence[str] | None = None,
        step_ms: int | None = None,
        by_version: bool = False,
    ) -> pd.DataFrame:
        where, params = self._where(check_feature_scope(scope), check_features(features))
        return self._histograms(where, params, step_ms, by_version)

    # -- fleet queries: one query for many models (the rules engine's FrameSource, the
    # dashboard's Fleet page) ------------------------------------------------------------------
    # DuckDBStore's signatures and answers: the per-model columns plus a leading ``model``,
    # ordered by it. ``model`` leads the GROUP BY and ORDER BY, and the models are one bound
    # IN list (each name checked by check_name, then quoted by pinotdb), so the SQL text is
    # the same for any fleet. Pinot 0.11 checks its group limit (numGroupsLimit, 100,000) per
    # segment, and our segments hold at most 100,000 rows (the tables' flush threshold), so
    # a fleet answer of more groups still comes back whole (the integration test reads
    # 121,000); were the limit reached, _check_complete raises as for any query.
    def fleet_latency(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        """``latency`` of many models in one query: ``model`` then its columns.

        Without ``step_ms`` and ``by_version`` every model has its row (count 0 over no data),
        as ``latency`` answers one row for a model.

        >>> store.fleet_latency(["churn", "fraud"], lo, hi, step_ms=300_000)  # doctest: +SKIP"""
        where, params = _fleet_where(models, start_ms, end_ms, version)
        df = self._latency(where, params, step_ms, by_version, lead="model")
        return _each_model(df, models, step_ms is None and not by_version, ("count", "errors"))

    def fleet_score(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        """``score`` of many models in one query (one row each without ``step_ms``)."""
        if by_version:
            raise ValueError("score metrics cannot be grouped by version yet")
        where, params = _fleet_where(models, start_ms, end_ms, version)
        df = self._score(where, params, step_ms, lead="model")
        return _each_model(df, models, step_ms is None, ("count",))

    def fleet_feature_summary(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        """``feature_summary`` of many models in one query, ``model`` first."""
        where, params = _fleet_where(models, start_ms, end_ms, version)
        return self._summary(where, params, step_ms, by_version, lead="model")

    def fleet_feature_histograms(
        self,
        models: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        step_ms: int | None = None,
        by_version: bool = False,
        version: str | None = None,
    ) -> pd.DataFrame:
        """``feature_histograms`` of many models in one query, ``model`` first."""
        where, params = _fleet_where(models, start_ms, end_ms, version)
        return self._histograms(where, params, step_ms, by_version, lead="model")

    # -- SQL shared by the per-model and fleet queries --------------------------------------
    def _latency(
        self,
        where: str,
        params: dict[str, object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        qs = ", ".join(
            f"PERCENTILE(latency_ms, {round(q * 100)}) AS p{round(q * 100)}"
            for q in LATENCY_QUANTILES
        )
        select = f'COUNT(*) AS "count", SUM(is_error) AS errors, AVG(latency_ms) AS "mean", {qs}'
        keys = [lead, self._bucket(step_ms), '"version"' if by_version else ""]
        sql = self._grouped(select, keys, f"{self.tables['inferences']} WHERE {where}")
        return _empty_stats(_ints(self._query(sql, params), "count", "errors"))

    def _score(
        self, where: str, params: dict[str, object], step_ms: int | None, lead: str = ""
    ) -> pd.DataFrame:
        select = (
            'COUNT(*) AS "count", AVG(score) AS "mean", SUM(score * score) AS sum_sq, '
            "PERCENTILE(score, 50) AS p50, PERCENTILE(score, 90) AS p90, "
            'MIN(score) AS "min", MAX(score) AS "max"'
        )
        keys = [lead, self._bucket(step_ms)]
        sql = self._grouped(select, keys, f"{self.tables['inferences']} WHERE {where}")
        df = _empty_stats(_ints(self._query(sql, params), "count"))
        n = df["count"].astype("float64")
        var = df["sum_sq"] / n.where(n > 0) - df["mean"] ** 2
        std = std_from_moments(var, df["min"], df["max"])
        df.insert(df.columns.get_loc("mean") + 1, "std", std)
        return df.drop(columns=["sum_sq"])

    def _summary(
        self,
        where: str,
        params: dict[str, object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        select = (
            'SUM("count") AS "count", SUM(nulls) AS nulls, SUM(specials) AS specials, '
            'SUM("valid") AS "valid", SUM("sum") AS "sum", SUM(sum_sq) AS sum_sq, '
            'MIN("min") AS "min", MAX("max") AS "max"'
        )
        version = '"version"' if by_version else ""
        keys = [lead, self._bucket(step_ms), version, "feature", "kind"]
        sql = self._grouped(select, keys, f"{self.tables['feature_stats']} WHERE {where}")
        return finish_summary(_ints(self._query(sql, params)))

    def _histograms(
        self,
        where: str,
        params: dict[str, object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        version = '"version"' if by_version else ""
        keys = [lead, self._bucket(step_ms), version, "feature", '"bin"', '"label"']
        sql = self._grouped(
            'SUM("count") AS "count"', keys, f"{self.tables['feature_bins']} WHERE {where}"
        )
        return _ints(self._query(sql, params), "bin", "count")

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        columns = ["ts", "request_id", "score", "label", "ts_label"]
        labels = self._query(
            f'SELECT request_id, "label", ts FROM {self.tables["outcomes"]} '
            "WHERE model = %(model)s AND ts >= %(since)s",
            {"model": scope.model, "since": int(scope.start_ms) - LABEL_SKEW_MS},
        )
        if labels.empty:
            return pd.DataFrame({c: pd.Series(dtype=_OUTCOME_DTYPES[c]) for c in columns})
        where, params = self._where(scope)
        ids = sorted(set(labels["request_id"]))
        if len(ids) <= MAX_IN_LIST:
            where += " AND request_id IN (%(ids)s)"
            params["ids"] = ids
        preds = self._query(
            f"SELECT ts, request_id, score FROM {self.tables['inferences']} "
            f"WHERE {where} AND request_id <> ''",
            params,
        )
        labels = labels.rename(columns={"ts": "ts_label"})
        df = preds.merge(labels, on="request_id", how="inner")[columns]
        df = df.sort_values(["ts", "request_id", "ts_label"], kind="stable").reset_index(drop=True)
        df = df.astype(_OUTCOME_DTYPES)
        if step_ms is not None and len(df):
            df["ts"] = (df["ts"] // step_ms) * step_ms
        return df

    def last_seen(self, until_ms: int | None = None) -> pd.DataFrame:
        where, params = "", {}
        if until_ms is not None:
            where, params = "WHERE ts < %(until)s", {"until": int(until_ms)}
        df = self._query(
            f"SELECT model, MAX(ts) AS last_ts FROM {self.tables['inferences']} {where} "
            "GROUP BY model ORDER BY model",
            params,
        )
        if df.empty:
            return pd.DataFrame(
                {"model": pd.Series(dtype=object), "last_ts": pd.Series(dtype="int64")}
            )
        return df.astype({"last_ts": "int64"})

    def count(self, table: str) -> int:
        """Rows Pinot can query in logical ``table`` (consumed from Kafka so far)."""
        df = self._query(f'SELECT COUNT(*) AS "n" FROM {self.tables[table]}')
        if "n" not in df.columns:  # a new table before any server hosts its segment
            raise StoreUnavailable(f"pinot table {self.tables[table]} has no serving segment yet")
        return int(df["n"].iloc[0])

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

    def hosts(self, model: str) -> list[str]:
        """Every host that served ``model``, sorted (``_query`` bounds it with LIMIT)."""
        sql = (
            f"SELECT DISTINCT host FROM {self.tables['inferences']} "
            "WHERE model = %(model)s ORDER BY host"
        )
        df = self._query(sql, {"model": check_name(model, "model")})
        return [str(h) for h in df["host"] if h] if len(df) else []


_LOGICAL = ("inferences", "feature_stats", "feature_bins", "outcomes")
_OUTCOME_DTYPES = {
    "ts": "int64",
    "request_id": "object",
    "score": "float64",
    "label": "float64",
    "ts_label": "int64",
}


TEXT_COLUMNS = frozenset({"model", "version", "host", "feature", "kind", "label", "request_id"})
"""Columns an empty answer types as strings; every other column is numeric."""


NO_MODEL = ""
"""What an empty fleet matches: no model is named "" (Pinot refuses ``IN ()`` as a syntax
error, which would read as an outage)."""


def _fleet_where(
    models: Sequence[str], start_ms: int, end_ms: int, version: str | None
) -> tuple[str, dict[str, object]]:
    """WHERE text and parameters of a fleet query, names checked before they reach SQL."""
    names = [check_name(m, "model") for m in models]
    if end_ms <= start_ms:
        raise ValueError(f"empty window: end {end_ms} <= start {start_ms}")
    clauses = ["model IN (%(models)s)", "ts >= %(start)s", "ts < %(end)s"]
    params: dict[str, object] = {
        "models": names or [NO_MODEL],
        "start": int(start_ms),
        "end": int(end_ms),
    }
    if version is not None:
        clauses.append('"version" = %(version)s')
        params["version"] = check_name(version, "version")
    return " AND ".join(clauses), params


def _each_model(
    df: pd.DataFrame, models: Sequence[str], one_row_each: bool, zero: tuple[str, ...]
) -> pd.DataFrame:
    """Give every model its row when the per-model query would, as DuckDB's fleet queries
    do: an aggregate without GROUP BY answers one row (count 0) even over no data, while
    the fleet query's GROUP BY model leaves a model without rows out."""
    if not one_row_each:
        return df
    out = df.set_index("model").reindex(sorted(set(models)))
    for c in zero:
        out[c] = out[c].fillna(0).astype("int64")
    return out.rename_axis("model").reset_index()


def _ints(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Pinot answers SUM and bucket arithmetic as DOUBLE; DuckDB's columns are integers."""
    df = df.rename(columns={"bucket": "ts"})
    for c in (*cols, "ts", "nulls", "specials", "valid"):
        if c in df.columns:
            df[c] = df[c].astype("float64").astype("int64")
    return df


def _empty_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Pinot reports aggregates over zero rows as +-Infinity; DuckDB says NULL (NaN)."""
    for c in df.columns:
        if c not in ("ts", "count", "errors") and c not in TEXT_COLUMNS and len(df):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
            if "count" in df.columns:
                df.loc[df["count"] == 0, c] = float("nan")
    return df


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
