"""QA parity of DuckDB and Pinot: the SDK is the one place that makes both stores hold the
same strings. Pinot cuts a STRING at its first NUL and beyond 512 characters; DuckDB keeps it
whole. So request ids with control characters are parked, and bin labels are stored NUL-free
and at most MAX_LABEL_CHARS long."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.schema import MAX_LABEL_CHARS, OTHER_CATEGORY, stored_label
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.ingestion.test_sdk import ListSink

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)


def _log(mon: Monitor, rid: object) -> bool:
    return mon.log(
        model="m", version="v1", features={}, score=0.5, latency_ms=1.0, request_id=rid, ts=T
    )


@pytest.mark.parametrize("rid", ["k\x00a", "tab\there", "line\n", "del\x7f", "c1\x85"])
def test_request_id_with_a_control_character_is_parked(rid: str) -> None:
    """QA: "k\\x00a" and "k\\x00b" were both "k" in Pinot, so labels joined wrong predictions."""
    sink = ListSink()
    mon = Monitor(sink, clock=FakeClock(T))
    assert _log(mon, rid) is False
    assert mon.stats.parked == {"bad_request_id": 1}
    batch = mon.flush()
    assert len(batch.inferences) == 0
    assert "control characters" in batch.parked[0].reason


@pytest.mark.parametrize("rid", [None, "", "plain", "uni-ü-😀", "a'b", " sp ", "r" * 256])
def test_ordinary_request_ids_still_pass(rid: object) -> None:
    mon = Monitor(ListSink(), clock=FakeClock(T))
    assert _log(mon, rid) is True


def test_outcome_with_a_nul_request_id_is_parked() -> None:
    mon = Monitor(ListSink(), clock=FakeClock(T))
    assert mon.log_outcome(model="m", request_id="k\x00a", label=1.0) is False
    assert mon.log_outcome(model="m", request_id="", label=1.0) is False
    assert mon.log_outcome(model="m", request_id="k-a", label=1.0) is True
    assert mon.stats.parked == {"bad_request_id": 2}


@pytest.mark.parametrize("with_none", [False, True], ids=["all-str", "with-None"])
def test_log_batch_parks_only_the_rows_whose_id_has_a_control_character(with_none) -> None:
    """Both paths of batch_request_ids: all strings (one joined scan) and mixed with None."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T))
    ids = ["k\x00a", "k\x00b", "ok-1", None if with_none else "ok-2", "nl\n"]
    accepted = mon.log_batch(
        model="m",
        version="v1",
        features={},
        score=np.full(5, 0.5),
        latency_ms=np.ones(5),
        ts_ms=np.full(5, T_MS),
        request_ids=ids,
    )
    mon.flush()
    assert accepted == 2
    assert mon.stats.parked == {"bad_request_id": 3}
    stored = store._query("SELECT request_id FROM inferences ORDER BY request_id")["request_id"]
    assert list(stored) == sorted(["ok-1", "" if with_none else "ok-2"])


def test_names_cannot_hold_nul_or_exceed_pinots_length() -> None:
    """Model/version/host/feature names are validated names (<= 128 of [A-Za-z0-9_.-]):
    no NUL, nothing Pinot would cut. Confirms the existing rule, per event and per batch."""
    mon = Monitor(ListSink(), clock=FakeClock(T))
    for override in (
        {"model": "m\x00x"},
        {"version": "v\x00"},
        {"host": "h\x00"},
        {"model": "m" * 129},
        {"features": {"f\x00": 1.0}},
    ):
        event = {"model": "m", "version": "v1", "features": {}, "score": 0.5, "latency_ms": 1.0}
        assert mon.log(**{**event, **override}) is False  # type: ignore[arg-type]
    assert set(mon.stats.parked) == {"bad_model", "bad_version", "bad_host", "bad_feature_name"}


def test_stored_label_replaces_nul_and_cuts_to_the_documented_length() -> None:
    assert stored_label("trail\x00") == "trail\ufffd"
    assert stored_label("L" * 600) == "L" * MAX_LABEL_CHARS
    assert stored_label("😀" * 300) == "😀" * MAX_LABEL_CHARS
    # within Pinot's 512, counted in Java chars (UTF-16 units), even for astral characters
    assert len(stored_label("😀" * 300).encode("utf-16-le")) // 2 <= 512
    assert stored_label("ü😀") == "ü😀"


def test_category_labels_are_stored_as_both_stores_keep_them() -> None:
    """QA: a 600-character category and "trail\\x00" were whole in DuckDB, cut in Pinot."""
    cats = ["a", "L" * 600, "ü😀", "trail\x00", "x'y", "L" * 600 + "tail"]
    ref = build_reference("m", pd.DataFrame({"c": [cats[i % len(cats)] for i in range(600)]}))
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), {"m": ref}, clock=FakeClock(T))
    values = np.array([*cats, "unseen"] * 10, dtype=object)
    n = values.size
    mon.log_batch(
        model="m",
        version="v1",
        features={"c": values},
        score=np.full(n, 0.5),
        latency_ms=np.ones(n),
        ts_ms=np.full(n, T_MS),
    )
    mon.flush()
    hist = store.feature_histograms(Scope("m", T_MS, T_MS + 60_000))
    labels = list(hist["label"])
    assert all("\x00" not in lb and len(lb) <= MAX_LABEL_CHARS for lb in labels)
    categories = ref.features["c"].categories
    # every value still lands in its own category's bin, by exact text; labels are derived
    for cat in cats:
        row = hist[hist["bin"] == categories.index(cat)]
        assert list(row["count"]) == [10]
        assert list(row["label"]) == [stored_label(cat)]
    assert list(hist[hist["label"] == OTHER_CATEGORY]["count"]) == [10]
    # the two long categories share a label after the cut but stay two bins
    assert (hist["label"] == "L" * MAX_LABEL_CHARS).sum() == 2
