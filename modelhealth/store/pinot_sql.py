"""The Pinot SQL of modelhealth: every statement :class:`~modelhealth.store.pinot.PinotStore`
sends to the broker, per model and for a fleet (see :mod:`modelhealth.store.pinot` for how the
answers differ from DuckDB's and why the differences are bounded).

Values travel through pinotdb's parameter binding (``%(name)s``); the only text formatted into
SQL is fixed fragments, validated table names and ``int`` bucket sizes. Every statement runs
through ``PinotStore._query``, which appends the LIMIT and checks the answer is whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from modelhealth.errors import StoreUnavailable
from modelhealth.names import check_name
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
from modelhealth.store.pinot_frames import _OUTCOME_DTYPES, _each_model, _empty_stats, _ints

MAX_IN_LIST = 10_000
"""outcomes(): above this many labelled ids, read the whole window instead of an IN list."""

NO_MODEL = ""
"""What an empty fleet matches: no model is named "" (Pinot refuses ``IN ()`` as a syntax
error, which would read as an outage)."""


class PinotQueries:
    """The query methods of :class:`~modelhealth.store.pinot.PinotStore`, which supplies
    ``_query`` (run one statement) and ``tables`` (logical name -> Pinot table name)."""

    tables: dict[str, str]
    _query: Callable[..., pd.DataFrame]

    # -- helpers ---------------------------------------------------------------------------
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

    def hosts(self, model: str) -> list[str]:
        """Every host that served ``model``, sorted (``_query`` bounds it with LIMIT)."""
        sql = (
            f"SELECT DISTINCT host FROM {self.tables['inferences']} "
            "WHERE model = %(model)s ORDER BY host"
        )
        df = self._query(sql, {"model": check_name(model, "model")})
        return [str(h) for h in df["host"] if h] if len(df) else []


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
