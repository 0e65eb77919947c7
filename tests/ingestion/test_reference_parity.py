"""QA: the reference profile and the SDK must bin the same values alike and count the same
values as null or special, whatever the dtype the training data or the model server uses, so
identical training and production data read no drift. Each case builds a reference from a
training column, logs the very same values through ``log_batch`` and through ``log()``, and
compares the stored histogram and null/special counts with the reference's."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.reference import HUGE, FeatureReference, build_feature_reference
from modelhealth.ingestion.schema import OTHER_CATEGORY
from tests.ingestion.test_sdk import ListSink

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)

rng = np.random.default_rng(7)
N = 400

COLUMNS: dict[str, pd.Series] = {
    # findings 1 and 5: missing values in object, Categorical and string columns
    "obj_str_none": pd.Series(["DE", "FR", None, "DE"] * (N // 4), dtype=object),
    "obj_str_nan": pd.Series(["DE", "FR", np.nan, "", "DE"] * (N // 5), dtype=object),
    "obj_bool_none": pd.Series([True, False, None, True] * (N // 4), dtype=object),
    "obj_num_none_nan": pd.Series([1, 2.5, None, np.nan, -1] * (N // 5), dtype=object),
    "categorical": pd.Series(pd.Categorical(["a", "b", None, "a"] * (N // 4))),
    "string_dtype": pd.Series(["u", "v", None, "u"] * (N // 4), dtype="string"),
    "boolean_dtype": pd.Series([True, False, None, True] * (N // 4), dtype="boolean"),
    "int64_dtype": pd.Series([1, 2, None, 3] * (N // 4), dtype="Int64"),
    # finding 4: ints and bools as categories (digit strings, "True"/"False") and as numbers
    "digit_strings": pd.Series(["101", "102", "103", "104"] * (N // 4), dtype=object),
    "int_categories": pd.Series(pd.Categorical([101, 102, None, 104] * (N // 4))),
    "ints": pd.Series([101, 102, 103, 104] * (N // 4)),
    "bools": pd.Series([True, False] * (N // 2)),
    "mixed_objects": pd.Series(["1", 1, 1.0, True, "x"] * (N // 5), dtype=object),
    # finding 3: NUL characters next to their prefix
    "nul": pd.Series(["DE", "DE\x00junk", "FR", "trail\x00", "trail"] * (N // 5), dtype=object),
    # finding 9: finite values beyond HUGE
    "huge": pd.Series(np.where(rng.random(N) < 0.1, 1e200, rng.normal(size=N))),
    "floats_nan_inf": pd.Series(np.r_[rng.normal(size=N - 20), [np.nan] * 10, [np.inf] * 10]),
}


def _row_value(v: object) -> object:
    """How a model server passes one value to log(): Python scalars, None when missing
    (a float NaN stays NaN: it is a value, not a missing one)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _expected(ref: FeatureReference, rows: int) -> tuple[list[float], int, int]:
    return list(ref.counts), round(ref.null_rate * rows), round(ref.special_rate * rows)


def _stored(batch: EventBatch, feature: str) -> tuple[list[float], int, int]:
    ref_bins = batch.feature_bins[batch.feature_bins["feature"] == feature]
    stats = batch.feature_stats[batch.feature_stats["feature"] == feature]
    return (
        ref_bins.groupby("bin")["count"].sum().to_dict(),  # type: ignore[return-value]
        int(stats["nulls"].sum()),
        int(stats["specials"].sum()),
    )


def _as_list(counts: dict[int, int], n_bins: int) -> list[float]:
    return [float(counts.get(i, 0)) for i in range(n_bins)]


def _monitor(ref_frame: pd.DataFrame) -> tuple[Monitor, FeatureReference]:
    ref = build_reference("m", ref_frame)
    return Monitor(ListSink(), {"m": ref}, clock=FakeClock(T)), ref.features["f"]


@pytest.mark.parametrize("name", list(COLUMNS))
def test_log_batch_of_the_training_column_matches_its_reference(name: str) -> None:
    column = COLUMNS[name]
    mon, ref = _monitor(pd.DataFrame({"f": column}))
    n = len(column)
    accepted = mon.log_batch(
        model="m",
        version="v1",
        features={"f": column},
        score=np.full(n, 0.5),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, T_MS),
    )
    assert accepted == n
    counts, nulls, specials = _stored(mon.flush(), "f")
    assert (_as_list(counts, ref.n_bins), nulls, specials) == _expected(ref, n)


@pytest.mark.parametrize("name", list(COLUMNS))
def test_log_of_each_training_value_matches_its_reference(name: str) -> None:
    column = COLUMNS[name]
    mon, ref = _monitor(pd.DataFrame({"f": column}))
    for v in column.astype(object):
        assert mon.log(
            model="m", version="v1", features={"f": _row_value(v)}, score=0.5, latency_ms=1.0, ts=T
        )
    counts, nulls, specials = _stored(mon.flush(), "f")
    assert (_as_list(counts, ref.n_bins), nulls, specials) == _expected(ref, len(column))


def test_missing_values_of_object_and_categorical_columns_are_nulls_not_categories() -> None:
    """Finding 1 (KeyError on any object column with a missing value) and finding 5
    (Categorical/string missing values became the categories "nan" and "<NA>")."""
    for name in ("obj_str_none", "obj_str_nan", "categorical", "string_dtype"):
        ref = build_feature_reference("f", COLUMNS[name])
        assert ref.kind == "categorical"
        assert not {"nan", "None", "<NA>"} & set(ref.categories), name
        assert ref.null_rate == pytest.approx(0.2 if name == "obj_str_nan" else 0.25), name
    assert build_feature_reference("f", COLUMNS["obj_str_nan"]).special_rate == 0.2  # ""


def test_object_column_of_bools_with_a_missing_value_is_numeric_like_a_bool_column() -> None:
    ref = build_feature_reference("f", COLUMNS["obj_bool_none"])
    assert ref.kind == "numeric"
    assert (ref.null_rate, ref.special_rate) == (0.25, 0.0)
    assert build_feature_reference("f", COLUMNS["boolean_dtype"]).counts == ref.counts


def test_nul_value_never_merges_with_its_prefix() -> None:
    """Finding 3: one "DE\\x00junk" ahead of 600 "DE" put every "DE" in __other__."""
    mon, ref = _monitor(pd.DataFrame({"f": ["DE"] * 600 + ["FR"] * 400}))
    values = np.array(["DE\x00junk"] + ["DE"] * 599 + ["FR"] * 400, dtype=object)
    mon.log_batch(
        model="m",
        version="v1",
        features={"f": values},
        score=np.full(1000, 0.5),
        latency_ms=np.ones(1000),
        ts_ms=np.full(1000, T_MS),
    )
    counts, _, _ = _stored(mon.flush(), "f")
    assert _as_list(counts, ref.n_bins) == [599.0, 400.0, 1.0]


def test_nul_values_match_their_category_as_the_stored_label_writes_it() -> None:
    """A category with a NUL is matched by its stored form (NUL as U+FFFD): the value with the
    NUL and the one with U+FFFD are one category; a trailing NUL in a list is kept."""
    train = ["c1"] * 50 + ["c1\x00a"] * 30 + ["c1\ufffda"] * 10 + ["c1\x00"] * 10
    ref = build_feature_reference("f", pd.Series(train, dtype=object))
    assert ref.categories == ("c1", "c1\x00a", "c1\x00")
    assert ref.counts == (50.0, 40.0, 10.0, 0.0)
    mon = Monitor(ListSink(), {"m": build_reference("m", pd.DataFrame({"f": train}))})
    mon.log_batch(
        model="m",
        version="v1",
        features={"f": train},  # a list: numpy strings would drop the trailing NUL
        score=np.full(len(train), 0.5),
        latency_ms=np.ones(len(train)),
        ts_ms=np.full(len(train), T_MS),
    )
    batch = mon.flush()
    counts, _, _ = _stored(batch, "f")
    assert _as_list(counts, ref.n_bins) == [50.0, 40.0, 10.0, 0.0]
    assert OTHER_CATEGORY not in set(batch.feature_bins["label"])


def test_ints_and_bools_logged_one_by_one_match_categories_by_their_text() -> None:
    """Finding 4: ints logged via log() were binned as "101.0" (all __other__, PSI 17)."""
    train = pd.DataFrame(
        {"store": ["101", "102"] * 50, "flag": ["True", "False"] * 50, "amount": [1.5, 2] * 50}
    )
    ref = build_reference("m", train)
    mon = Monitor(ListSink(), {"m": ref}, clock=FakeClock(T))
    for i in range(100):
        feats = {"store": 101 + i % 2, "flag": i % 2 == 0, "amount": 1.5 if i % 2 == 0 else 2}
        mon.log(model="m", version="v1", features=feats, score=0.5, latency_ms=1.0, ts=T)
    batch = mon.flush()
    for f in ("store", "flag", "amount"):
        counts, _, _ = _stored(batch, f)
        assert _as_list(counts, ref.features[f].n_bins) == list(ref.features[f].counts), f


def test_values_beyond_huge_are_special_in_the_reference_as_in_the_sdk() -> None:
    """Finding 9: 10% of 1e200 were valid (overflow bin) in the reference, special in the SDK."""
    ref = build_feature_reference("f", COLUMNS["huge"])
    share = float(np.mean(np.abs(COLUMNS["huge"]) > HUGE))
    assert ref.special_rate == pytest.approx(share) and share > 0.05
    assert sum(ref.counts) == pytest.approx(N * (1 - share))
    assert ref.edges[-1] < 10
