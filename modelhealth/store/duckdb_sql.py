"""The DuckDB SQL of modelhealth's queries: every statement
:class:`~modelhealth.store.duckdb.DuckDBStore` reads with, per model and for a fleet.

Only fixed fragments are concatenated; every model/version/feature name and time bound is a
bound parameter. The statements that create the tables and write them (``append``,
``snapshot``) stay with the connection in :mod:`modelhealth.store.duckdb`, which runs these
through ``DuckDBStore._query``; :mod:`modelhealth.store.duckdb_frames` shapes the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

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
)
from modelhealth.store.duckdb_frames import _each_model, _ints

FLEET_MODELS = "list_contains(?::VARCHAR[], model)"
"""How fleet queries match their models (one list parameter: the same SQL for any count)."""


class DuckDBQueries:
    """The query methods of :class:`~modelhealth.store.duckdb.DuckDBStore`, which supplies
    ``_query`` (run one statement on this process's connection)."""

    _query: Callable[..., pd.DataFrame]

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _where(
        scope: Scope, features: list[str] | None = None, alias: str = ""
    ) -> tuple[str, list[object]]:
        """WHERE text and parameters for a scope; ``alias`` qualifies columns (``i.`` in joins)."""
        a = alias
        clauses = [f"{a}model = ?", f"{a}ts >= ?", f"{a}ts < ?"]
        params: list[object] = [scope.model, scope.start_ms, scope.end_ms]
        if scope.version is not None:
            clauses.append(f"{a}version = ?")
            params.append(scope.version)
        if scope.host is not None:
            clauses.append(f"{a}host = ?")
            params.append(scope.host)
        if features is not None:
            clauses.append(f"list_contains(?, {a}feature)")
            params.append(features)
        return " AND ".join(clauses), params

    @staticmethod
    def _bucket(step_ms: int | None, params: list[object]) -> tuple[str, str]:
        """SELECT prefix and GROUP BY fragment for optional time bucketing."""
        if step_ms is None:
            return "", ""
        params.insert(0, int(step_ms))
        params.insert(0, int(step_ms))
        return "(ts // ?) * ? AS bucket, ", "bucket"

    @staticmethod
    def _group(*parts: str) -> str:
        used = [p for p in parts if p]
        return (" GROUP BY " + ", ".join(used) + " ORDER BY " + ", ".join(used)) if used else ""

    # -- queries -------------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self._query("SELECT DISTINCT model FROM inferences ORDER BY model")["model"])

    def versions(self, model: str) -> list[str]:
        df = self._query(
            "SELECT DISTINCT version FROM inferences WHERE model = ? ORDER BY 1", [model]
        )
        return list(df["version"])

    def hosts(self, model: str) -> list[str]:
        df = self._query(
            "SELECT DISTINCT host FROM inferences WHERE model = ? AND host IS NOT NULL ORDER BY 1",
            [check_name(model, "model")],
        )
        return [str(h) for h in df["host"]]

    def time_range(
        self, model: str | None = None, version: str | None = None
    ) -> tuple[int, int] | None:
        where = ""
        params: list[object] = []
        if check_model_filter(model) is not None:
            where, params = " WHERE model = ?", [model]
        if check_version_filter(model, version) is not None:
            where += " AND version = ?"
            params.append(version)
        df = self._query("SELECT min(ts) AS lo, max(ts) AS hi FROM inferences" + where, params)
        if df.empty or pd.isna(df["lo"].iloc[0]):
            return None
        return int(df["lo"].iloc[0]), int(df["hi"].iloc[0])

    def latency(
        self, scope: Scope, step_ms: int | None = None, by_version: bool = False
    ) -> pd.DataFrame:
        return self._latency(*self._where(scope), step_ms, by_version)

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._score(*self._where(scope), step_ms)

    def score_histogram(self, scope: Scope, edges: Sequence[float]) -> pd.DataFrame:
        values = check_edges(edges)
        where, params = self._where(scope)
        bin_expr = " + ".join("CAST(score >= ? AS INTEGER)" for _ in values) or "0"
        sql = (
            f"SELECT {bin_expr} AS bin, count(*) AS count FROM inferences WHERE {where} "
            "GROUP BY bin ORDER BY bin"
        )
        return _ints(self._query(sql, [*values, *params]), "bin", "count")

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

    # -- fleet queries: one query for many models (the rules engine's FrameSource) ----------
    # Same columns as the per-model method plus a leading ``model``. A 10,000-rule tick over
    # 200 models runs 2 queries instead of 400 (benchmarks/rules.py). Models are matched with
    # ``list_contains(?, model)``: a semi-join on the unnested list (``model IN (SELECT
    # unnest(?))``), as fast, kept about 1 KB of native memory per query in DuckDB 2.0 (a
    # rules daemon grew 5.7 KB per tick, 8 MB a day at one tick a minute;
    # benchmarks/scheduler_memory.py).
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
        where, params = self._fleet_where(models, start_ms, end_ms, version)
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
        if by_version:
            raise ValueError("score metrics cannot be grouped by version yet")
        where, params = self._fleet_where(models, start_ms, end_ms, version)
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
        where, params = self._fleet_where(models, start_ms, end_ms, version)
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
        where, params = self._fleet_where(models, start_ms, end_ms, version)
        return self._histograms(where, params, step_ms, by_version, lead="model")

    @staticmethod
    def _fleet_where(
        models: Sequence[str], start_ms: int, end_ms: int, version: str | None
    ) -> tuple[str, list[object]]:
        names = [check_name(m, "model") for m in models]
        if end_ms <= start_ms:
            raise ValueError(f"empty window: end {end_ms} <= start {start_ms}")
        clauses = [FLEET_MODELS, "ts >= ?", "ts < ?"]
        params: list[object] = [names, int(start_ms), int(end_ms)]
        if version is not None:
            clauses.append("version = ?")
            params.append(check_name(version, "version"))
        return " AND ".join(clauses), params

    # -- SQL shared by the per-model and fleet queries --------------------------------------
    def _latency(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        qs = ", ".join(
            f"quantile_cont(latency_ms, {q}) AS p{round(q * 100)}" for q in LATENCY_QUANTILES
        )
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}count(*) AS count, "
            "coalesce(sum(is_error), 0) AS errors, "
            f"avg(latency_ms) AS mean, {qs} FROM inferences WHERE {where}"
            + self._group(lead, ts_grp, v_grp)
        )
        return _ints(self._query(sql, params), "count", "errors")

    def _score(
        self, where: str, params: list[object], step_ms: int | None, lead: str = ""
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}count(*) AS count, avg(score) AS mean, "
            "stddev_pop(score) AS std, quantile_cont(score, 0.5) AS p50, "
            "quantile_cont(score, 0.9) AS p90, min(score) AS min, max(score) AS max "
            f"FROM inferences WHERE {where}" + self._group(lead, ts_grp)
        )
        return _ints(self._query(sql, params), "count")

    def _summary(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}feature, kind, "
            "sum(count) AS count, sum(nulls) AS nulls, sum(specials) AS specials, "
            'sum(valid) AS valid, sum("sum") AS sum, sum(sum_sq) AS sum_sq, '
            'min("min") AS min, max("max") AS max '
            f"FROM feature_stats WHERE {where}"
            + self._group(lead, ts_grp, v_grp, "feature", "kind")
        )
        return finish_summary(_ints(self._query(sql, params)))

    def _histograms(
        self,
        where: str,
        params: list[object],
        step_ms: int | None,
        by_version: bool,
        lead: str = "",
    ) -> pd.DataFrame:
        ts_sel, ts_grp = self._bucket(step_ms, params)
        v_sel, v_grp = ("version, ", "version") if by_version else ("", "")
        sql = (
            f"SELECT {_lead(lead)}{ts_sel}{v_sel}feature, bin, label, "
            f'sum("count") AS count FROM feature_bins WHERE {where}'
            + self._group(lead, ts_grp, v_grp, "feature", "bin", "label")
        )
        return _ints(self._query(sql, params), "bin", "count")

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        where, params = self._where(scope, alias="i.")
        params = [*params, int(scope.start_ms) - LABEL_SKEW_MS]
        sql = (
            "SELECT i.ts AS ts, i.request_id, i.score, o.label, o.ts AS ts_label "
            "FROM inferences i JOIN outcomes o ON o.model = i.model AND "
            f"o.request_id = i.request_id WHERE {where} AND o.ts >= ? "
            "ORDER BY i.ts, i.request_id, o.ts"
        )
        df = self._query(sql, params)
        if step_ms is not None and len(df):
            df["ts"] = (df["ts"] // step_ms) * step_ms
        return df

    def last_seen(self, until_ms: int | None = None) -> pd.DataFrame:
        where, params = ("WHERE ts < ?", [int(until_ms)]) if until_ms is not None else ("", [])
        return self._query(
            f"SELECT model, max(ts) AS last_ts FROM inferences {where} "
            "GROUP BY model ORDER BY model",
            params,
        )

    def parked_events(self, limit: int = 100) -> pd.DataFrame:
        return self._query("SELECT * FROM parked_events ORDER BY ts DESC LIMIT ?", [limit])


def _lead(column: str) -> str:
    return f"{column}, " if column else ""
