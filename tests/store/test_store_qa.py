"""QA parity of DuckDB and Pinot: inputs that gave different answers per backend now get the
same answer or the same ValueError from both. Pinot runs against a fake broker on loopback
(no JVM): checks must fire before any query, and its score std is read from a canned answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelhealth.errors import InvalidName
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.schema import FEATURE_STATS, INFERENCES, MISSING_MAX, MISSING_MIN
from modelhealth.store.backend import Scope, check_edges, finish_summary
from modelhealth.store.duckdb import DuckDBStore

pytest.importorskip("pinotdb")

H = 3_600_000
SERVERS_DOWN = {"exceptions": [], "numServersQueried": 0, "numServersResponded": 0}


@pytest.fixture
def broker(pinot_broker: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    """The loopback broker (``conftest.py``), answering "servers down" unless changed."""
    pinot_broker[1].update(SERVERS_DOWN)
    return pinot_broker


def _scores(store: DuckDBStore, values: list[float]) -> None:
    n = len(values)
    store.append(
        EventBatch(
            inferences=pd.DataFrame(
                {
                    "ts": np.arange(n, dtype=np.int64),
                    "model": "m",
                    "version": "v1",
                    "host": "h1",
                    "request_id": "",
                    "score": values,
                    "latency_ms": 1.0,
                    "is_error": 0,
                }
            )[INFERENCES.column_names]
        )
    )


@pytest.fixture(params=["duckdb", "pinot"])
def store(request):
    if request.param == "duckdb":
        s = DuckDBStore()
        _scores(s, [0.1, 0.5, 0.9])
        yield s
    else:
        from modelhealth.store.pinot import PinotStore

        s = PinotStore(request.getfixturevalue("broker")[0], timeout=5)
        yield s
    s.close()


# -- bug 3: score_histogram edges --------------------------------------------------------------
@pytest.mark.parametrize(
    ("edges", "why"),
    [
        ([0.8, 0.2], "strictly increasing.*0.8 before 0.2"),
        ([0.5, 0.5], "strictly increasing"),
        ([float("nan")], "finite"),
        ([0.2, float("inf")], "finite"),
        (["a"], "numbers"),
    ],
)
def test_score_histogram_refuses_bad_edges_on_both_backends(store, edges, why) -> None:
    """QA: unsorted edges gave DuckDB {0:52,1:105,2:43} and Pinot {0:157,2:148}; a NaN edge
    put everything in DuckDB's bin 0 while Pinot raised."""
    with pytest.raises(ValueError, match=why):
        store.score_histogram(Scope("m", 0, H), edges)


def test_check_edges_accepts_what_references_make() -> None:
    assert check_edges((0, 0.5, np.float64(1.0))) == [0.0, 0.5, 1.0]
    assert check_edges([]) == []


def test_duckdb_score_histogram_with_good_edges_is_unchanged() -> None:
    s = DuckDBStore()
    _scores(s, [0.1, 0.5, 0.9])
    hist = s.score_histogram(Scope("m", 0, H), [0.2, 0.8])
    assert hist.to_dict("list") == {"bin": [0, 1, 2], "count": [1, 1, 1]}


# -- bug 4: feature queries with a host ----------------------------------------------------------
@pytest.mark.parametrize("method", ["feature_summary", "feature_histograms"])
def test_feature_queries_with_a_host_raise_the_same_clear_error(store, method) -> None:
    """QA: DuckDB raised a raw BinderException, Pinot StoreUnavailable."""
    with pytest.raises(ValueError, match="not kept per host; drop host from the scope"):
        getattr(store, method)(Scope("m", 0, H, host="h1"))


# -- bug 5: time_range("") -----------------------------------------------------------------------
@pytest.mark.parametrize("model", ["", "bad name", "x'; --"])
def test_time_range_validates_the_model_name_on_both_backends(store, model) -> None:
    """QA: Pinot read "" as no filter (the global range), DuckDB as a model with no rows."""
    with pytest.raises(InvalidName):
        store.time_range(model)


def test_duckdb_time_range_none_is_every_model() -> None:
    s = DuckDBStore()
    assert s.time_range() is None
    _scores(s, [0.1, 0.5])
    assert s.time_range() == (0, 1)
    assert s.time_range("m") == (0, 1)
    assert s.time_range("other") is None


# -- bug 6: std from moments ---------------------------------------------------------------------
def _feature_rows(values: np.ndarray) -> EventBatch:
    """One feature_stats row per value (as many flushes would store them)."""
    n = values.size
    return EventBatch(
        feature_stats=pd.DataFrame(
            {
                "ts": np.arange(n, dtype=np.int64),
                "model": "m",
                "version": "v1",
                "feature": "epoch_s",
                "kind": "numeric",
                "count": 1,
                "nulls": 0,
                "specials": 0,
                "valid": 1,
                "sum": values,
                "sum_sq": values * values,
                "min": values,
                "max": values,
            }
        )[FEATURE_STATS.column_names]
    )


def test_feature_std_of_a_constant_far_from_zero_is_zero() -> None:
    """sum_sq/n - mean^2 cancels catastrophically: a feature constant at 1.7e9 + 0.3 had std
    50.6. min == max proves it is 0."""
    s = DuckDBStore()
    s.append(_feature_rows(np.full(100, 1.7e9 + 0.3)))
    row = s.feature_summary(Scope("m", 0, H)).iloc[0]
    assert row["std"] == 0.0
    assert row["min"] == row["max"] == 1.7e9 + 0.3


def test_feature_std_far_from_zero_is_capped_by_its_range() -> None:
    """QA: 1.7e9 + N(0, 1) gave std 22.6 from the stored sums; the true std is 1.0. It cannot
    exceed (max - min) / 2, so the error is capped there (see backend.std_from_moments)."""
    values = 1.7e9 + np.random.default_rng(3).normal(0, 1, 3600)
    s = DuckDBStore()
    s.append(_feature_rows(values))
    row = s.feature_summary(Scope("m", 0, H)).iloc[0]
    assert row["std"] <= (values.max() - values.min()) / 2 + 1e-6
    # the stored sums as numpy adds them (one bucket): E[x^2] - E[x]^2 comes out as 512
    n, total, total_sq = values.size, values.sum(), (values * values).sum()
    assert total_sq / n - (total / n) ** 2 > 100
    out = finish_summary(_summary_frame(n, total, total_sq, values.min(), values.max()))
    assert out["std"].iloc[0] == pytest.approx((values.max() - values.min()) / 2)
    assert out["mean"].iloc[0] == pytest.approx(values.mean(), rel=1e-15)


def test_feature_std_of_ordinary_values_is_unchanged() -> None:
    values = np.random.default_rng(4).normal(5, 2, 500)
    s = DuckDBStore()
    s.append(_feature_rows(values))
    row = s.feature_summary(Scope("m", 0, H)).iloc[0]
    assert row["std"] == pytest.approx(values.std(), rel=1e-9)


def _summary_frame(
    n: int, total: float, total_sq: float, lo: float, hi: float, kind: str = "numeric"
) -> pd.DataFrame:
    """One row as the stores hand it to finish_summary."""
    return pd.DataFrame(
        {
            "feature": ["f"],
            "kind": [kind],
            "count": [n],
            "nulls": [0],
            "specials": [0],
            "valid": [n],
            "sum": [total],
            "sum_sq": [total_sq],
            "min": [lo],
            "max": [hi],
        }
    )


def test_finish_summary_leaves_categorical_std_empty() -> None:
    df = _summary_frame(3, 0.0, 0.0, MISSING_MIN, MISSING_MAX, kind="categorical")
    out = finish_summary(df).iloc[0]
    assert np.isnan(out["std"]) and np.isnan(out["min"])


def _pinot_answer(rows: list[list[object]]) -> dict[str, object]:
    names = ["count", "mean", "sum_sq", "p50", "p90", "min", "max"]
    return {
        "resultTable": {
            "dataSchema": {
                "columnNames": names,
                "columnDataTypes": ["LONG", *["DOUBLE"] * (len(names) - 1)],
            },
            "rows": rows,
        },
        "exceptions": [],
        "numServersQueried": 1,
        "numServersResponded": 1,
    }


def test_pinot_score_std_far_from_zero_is_bounded_by_min_and_max(broker) -> None:
    """Pinot 0.11 has no STDDEV_POP: sqrt(E[x^2] - E[x]^2) gave 40.8 for 1e9 + N(0, 1)
    (true 1.02); a constant score at 1e9 would look noisy. Both are now bounded."""
    from modelhealth.store.pinot import PinotStore

    url, answer = broker
    mean = 1e9
    n = 1000
    noisy_sum_sq = n * (mean * mean + 40.8**2)  # what the cancellation leaves over
    answer.clear()
    answer.update(
        _pinot_answer([[n, mean, noisy_sum_sq, mean, mean + 1.2, mean - 3.1, mean + 3.3]])
    )
    df = PinotStore(url, timeout=5).score(Scope("m", 0, H))
    assert df["std"].iloc[0] == pytest.approx(3.2)
    answer.update(_pinot_answer([[n, mean, noisy_sum_sq, mean, mean, mean, mean]]))
    df = PinotStore(url, timeout=5).score(Scope("m", 0, H))
    assert df["std"].iloc[0] == 0.0
    # ordinary scores keep the moment formula's answer
    answer.update(_pinot_answer([[4, 0.5, 4 * (0.25 + 0.01), 0.5, 0.6, 0.4, 0.6]]))
    df = PinotStore(url, timeout=5).score(Scope("m", 0, H))
    assert df["std"].iloc[0] == pytest.approx(0.1)
