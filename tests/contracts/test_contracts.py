"""Data contracts: build, save/load, every check on batches and on stored windows, CLI."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import (
    CheckRegistry,
    DataContract,
    Status,
    build_contract,
    contract_metrics,
    validate_frame,
    validate_window,
)
from modelhealth.contracts.cli import contract_main
from modelhealth.contracts.contract import CustomCheck, parse_contract
from modelhealth.errors import ConfigError
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore


def _train(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 100, n)
    amount[:40] = -1.0  # 1 % sentinel
    amount[40:60] = np.nan  # 0.5 % NaN
    return pd.DataFrame(
        {
            "amount": amount,
            "country": rng.choice(["US", "DE", "FR"], n),
            "user_id": np.arange(n),
        }
    )


def _status(report, check: str, column: str) -> Status:
    found = [r for r in report.results if r.check == check and r.column == column]
    assert found, f"no {check} result for {column}"
    return max(r.status for r in found)


def test_build_profiles_each_column() -> None:
    c = build_contract("fraud", _train())
    amount = c.columns["amount"]
    assert amount.kind == "numeric" and amount.dtype == "float64"
    assert amount.special_rates["-1"] == pytest.approx(0.01)
    assert amount.special_rates["-999999"] == 0.0
    assert amount.null_rate == pytest.approx(0.005)
    assert 0 <= amount.min < 1 and 99 < amount.max <= 100
    assert len(amount.edges) == 12 and sum(amount.counts) == 4000 - 60
    assert amount.edges[-2:] == (amount.max, np.nextafter(amount.max, np.inf))  # overflow: > max
    country = c.columns["country"]
    assert country.kind == "categorical" and country.domain == ("DE", "FR", "US")
    assert c.columns["user_id"].unique and not country.unique
    assert amount.unique_rate > 0.99 and not amount.unique  # distinct floats are no key
    assert c.to_reference().features["amount"].edges == amount.edges


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    c = build_contract("fraud", _train(), created_from="train.parquet")
    loaded = DataContract.load(c.save(tmp_path / f"fraud{suffix}"))
    assert loaded.columns == c.columns
    assert loaded.row_count == 4000 and loaded.thresholds == c.thresholds


def test_a_batch_like_training_is_healthy() -> None:
    c = build_contract("fraud", _train())
    batch = _train(2000, seed=1)
    batch["user_id"] += 10_000
    report = validate_frame(c, batch)
    assert report.status == Status.HEALTHY, report.format_text()
    assert report.row_count_change == pytest.approx(-0.5)


def test_each_check_catches_its_breakage() -> None:
    c = build_contract("fraud", _train())
    bad = _train(2000, seed=2)
    bad.loc[:599, "amount"] = -999999.0  # 30 % new sentinel -> special_rate critical
    bad.loc[600:700, "amount"] = 150.0  # 5 % above training max -> out_of_range
    bad.loc[:100, "country"] = "BR"  # 5 % unseen -> out_of_domain critical
    bad.loc[:100, "user_id"] = 7  # duplicates in a unique column
    bad = bad.drop(columns=[]).assign(extra=1)
    report = validate_frame(c, bad)
    assert _status(report, "special_rate", "amount") == Status.CRITICAL
    assert _status(report, "out_of_range", "amount") >= Status.WARNING
    assert _status(report, "out_of_domain", "country") == Status.CRITICAL
    assert _status(report, "duplicates", "user_id") == Status.CRITICAL
    assert _status(report, "psi", "amount") == Status.CRITICAL
    assert _status(report, "unexpected_column", "extra") == Status.WARNING
    dom = next(r for r in report.results if r.check == "out_of_domain")
    assert dom.value == pytest.approx(101 / 2000) and "BR" in dom.message
    assert dom.threshold == pytest.approx(0.01)
    assert report.status == Status.CRITICAL


def test_schema_checks() -> None:
    c = build_contract("fraud", _train())
    bad = _train(500).drop(columns=["country"])
    bad["amount"] = bad["amount"].astype(str)
    bad["user_id"] = bad["user_id"].astype("int32")
    report = validate_frame(c, bad)
    assert _status(report, "missing_column", "country") == Status.CRITICAL
    assert _status(report, "dtype", "amount") == Status.CRITICAL  # number -> text
    assert _status(report, "dtype", "user_id") == Status.WARNING  # int64 -> int32


def test_null_rate_threshold_is_relative_to_reference() -> None:
    c = build_contract("fraud", _train())
    batch = _train(1000, seed=3)
    batch.loc[:99, "country"] = None  # 10 % nulls, training had 0: warning (> 5 %)
    r = next(
        x
        for x in validate_frame(c, batch).results
        if x.check == "null_rate" and x.column == "country"
    )
    assert r.status == Status.WARNING and r.value == pytest.approx(0.1)
    assert r.threshold == pytest.approx(0.05)


def test_row_count_change_when_expected_rows_set() -> None:
    c = build_contract("fraud", _train())
    c = DataContract(**{**c.__dict__, "expected_rows": 10_000})
    report = validate_frame(c, _train(500, seed=4).assign(user_id=lambda d: d.user_id + 9999))
    assert _status(report, "row_count_change", "") == Status.CRITICAL  # 95 % fewer rows


def test_custom_checks_from_yaml(tmp_path: Path) -> None:
    c = build_contract("fraud", _train())
    text = c.save(tmp_path / "c.yaml").read_text()
    text += (
        "custom:\n"
        "- {check: share_above, column: amount, warning: 0.1, critical: 0.5, "
        "params: {limit: 50}}\n"
        "- {check: has_rows}\n"
    )
    text = text.replace("custom: []\n", "")
    contract = parse_contract(text, "c.yaml")
    registry = CheckRegistry()

    @registry.check("share_above")
    def share_above(column: pd.Series, *, limit: float) -> float:
        return float((column > limit).mean())

    registry.register("has_rows", lambda frame: len(frame) > 0)
    report = validate_frame(contract, _train(1000, seed=5).assign(user_id=-5), registry)
    r = next(x for x in report.results if x.check == "share_above")
    assert r.status == Status.WARNING and 0.4 < r.value < 0.6
    assert next(x for x in report.results if x.check == "has_rows").status == Status.HEALTHY
    with pytest.raises(ConfigError, match="custom check 'share_above' is not registered"):
        validate_frame(contract, _train(10))


def test_bad_contract_file_reports_line_and_field() -> None:
    text = "model: fraud\nrow_count: 3\ncolour: blue\ncolumns:\n  - name: a\n    dtype: int64\n"
    text += "    kind: numbr\n"
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "fraud.yaml")
    msg = str(err.value)
    assert "fraud.yaml:3:1: colour: unknown key" in msg
    kind = "fraud.yaml:7:5: column a: columns.0.kind: kind must be 'numeric' or 'categorical'"
    assert kind in msg


def test_window_of_stored_statistics() -> None:
    c = build_contract("fraud", _train())
    store = DuckDBStore()
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    mon = Monitor(
        DuckDBSink(store),
        {"fraud": c.to_reference()},
        clock=FakeClock(t0),
        bucket=timedelta(hours=1),
    )
    good, bad = _train(2000, seed=6), _train(2000, seed=7)
    bad.loc[:399, "amount"] = np.nan  # 20 % more specials
    bad.loc[:199, "country"] = "BR"
    for day, frame in ((0, good), (1, bad)):
        mon.log_batch(
            model="fraud",
            version="v1",
            features={k: frame[k].to_numpy() for k in ("amount", "country")},
            score=np.zeros(len(frame)),
            latency_ms=np.ones(len(frame)),
            ts_ms=np.full(len(frame), to_epoch_ms(t0) + day * 86_400_000),
        )
    mon.flush()
    day0 = Scope("fraud", to_epoch_ms(t0), to_epoch_ms(t0) + 86_400_000)
    day1 = Scope("fraud", day0.end_ms, day0.end_ms + 86_400_000)
    healthy = validate_window(c, store, day0)
    assert _status(healthy, "null_rate", "amount") == Status.HEALTHY
    assert _status(healthy, "missing_column", "user_id") == Status.CRITICAL  # never logged
    broken = validate_window(c, store, day1)
    assert _status(broken, "null_rate", "amount") == Status.WARNING
    assert _status(broken, "out_of_domain", "country") == Status.CRITICAL
    metrics = contract_metrics(store, day1, c)
    assert list(metrics.columns) == ["feature", "check", "value", "status"]
    row = metrics[(metrics.feature == "country") & (metrics.check == "out_of_domain")].iloc[0]
    assert row.value == pytest.approx(0.1) and row.status == 2


def test_cli_create_and_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _train().to_parquet(tmp_path / "train.parquet")
    good = _train(500, seed=8).assign(user_id=lambda d: d.user_id + 50_000)
    good.to_csv(tmp_path / "good.csv", index=False)
    bad = good.assign(country="XX")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = io.StringIO()
    contract = tmp_path / "fraud.contract.yaml"
    code = contract_main(
        [
            "create",
            "--reference",
            str(tmp_path / "train.parquet"),
            "--model",
            "fraud",
            "--out",
            str(contract),
        ],
        out,
    )
    assert code == 0 and "3 columns, 4000 rows" in out.getvalue()
    # a reviewed contract is not replaced by a second `create` without --force
    before = contract.read_text()
    create = ["create", "--reference", str(tmp_path / "train.parquet"), "--model", "fraud"]
    assert contract_main([*create, "--out", str(contract), "--bins", "3"], io.StringIO()) == 1
    assert contract.read_text() == before
    assert contract_main([*create, "--out", str(contract), "--force"], io.StringIO()) == 0
    assert (
        contract_main(["validate", str(contract), "--data", str(tmp_path / "good.csv")], out) == 0
    )
    out = io.StringIO()
    assert contract_main(["validate", str(contract), "--data", str(tmp_path / "bad.csv")], out) == 2
    assert "critical out_of_domain" in out.getvalue()
    # custom checks from a module named on the command line
    (tmp_path / "mychecks.py").write_text("CHECKS = {'always_bad': lambda frame: False}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = contract.read_text().replace("custom: []", "custom:\n- check: always_bad")
    contract.write_text(text)
    args = ["validate", str(contract), "--data", str(tmp_path / "good.csv")]
    assert contract_main([*args, "--checks", "mychecks", "--json"], io.StringIO()) == 2
    assert contract_main(args, io.StringIO()) == 1  # unregistered check: input error
    assert contract_main(["validate", str(contract), "--data", "missing.csv"], io.StringIO()) == 1
    del sys.modules["mychecks"]


def test_custom_check_numpy_bool_and_bad_return_value() -> None:
    c = build_contract("fraud", _train())
    c = DataContract(
        **{
            **c.__dict__,
            "custom": (
                CustomCheck("np_false", column="amount"),
                CustomCheck("np_true", column="amount"),
                CustomCheck("text", column="amount"),
                CustomCheck("share", column="amount", warning=0.1, critical=0.5),
            ),
        }
    )
    registry = CheckRegistry(
        {
            "np_false": lambda col: (col > 1e9).all(),  # np.bool_(False): must be critical
            "np_true": lambda col: np.bool_(True),
            "text": lambda col: "n/a",
            "share": lambda col: np.float64(0.3),
        }
    )
    report = validate_frame(c, _train(500, seed=9).assign(user_id=-1), registry)
    by_check = {r.check: r for r in report.results}
    assert by_check["np_false"].status == Status.CRITICAL
    assert by_check["np_true"].status == Status.HEALTHY
    text = by_check["text"]
    assert text.status == Status.CRITICAL and text.column == "amount"
    assert "'text'" in text.message and "'amount'" in text.message
    assert "expected a float" in text.message and "bool" in text.message
    assert by_check["share"].status == Status.WARNING  # the other checks are still graded


_HAND_EDITED = """\
model: fraud
expected_rows: {expected_rows}
columns:
- name: amount
  dtype: float64
  kind: numeric
  min: {min}
  max: 10.0
  edges: {edges}
  counts: {counts}
- name: country
  dtype: object
  kind: categorical
  categories: [DE, FR]
  counts: [5, 5, 0]
"""
_GOOD = {
    "expected_rows": "null",
    "min": "0.0",
    "edges": "[0.0, 5.0, 10.0]",
    "counts": "[0, 5, 5, 0]",
}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("expected_rows", "'1000'", "c.yaml:2:1: expected_rows: expected a row count or null"),
        ("edges", "abc", "c.yaml:9:3: column amount: columns.0.edges: expected a list of numbers"),
        ("edges", "[0.0, x, 10.0]", "c.yaml:9:16: column amount: columns.0.edges.1: expected"),
        ("edges", "[5.0, 1.0]", "columns.0.edges.1: edges must increase strictly"),
        ("min", "low", "c.yaml:7:3: column amount: columns.0.min: expected a number or null"),
        ("counts", "[1, 2]", "c.yaml:10:3: column amount: columns.0.counts: 2 counts for 4 bins"),
        ("counts", "[0, 5, -5, 0]", "columns.0.counts.2: expected a bin count >= 0"),
    ],
)
def test_hand_edited_field_types_are_reported_at_load(
    field: str, value: str, expected: str
) -> None:
    good = parse_contract(_HAND_EDITED.format(**_GOOD), "c.yaml")
    frame = pd.DataFrame({"amount": [1.0, 7.0], "country": ["DE", "FR"]})
    assert validate_frame(good, frame).status == Status.HEALTHY  # the valid form still works
    with pytest.raises(ConfigError) as err:
        parse_contract(_HAND_EDITED.format(**{**_GOOD, field: value}), "c.yaml")
    assert expected in str(err.value)
    assert len(err.value.issues) == 1  # the other column and fields are not blamed


def test_wrong_threshold_and_custom_types_are_reported_at_load() -> None:
    text = _HAND_EDITED.format(**_GOOD) + (
        "thresholds:\n  psi: [a, b]\ncustom:\n- {check: mine, column: amount, warning: high}\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "c.yaml")
    msg = str(err.value)
    assert "c.yaml:17:3: thresholds.psi: expected [warning, critical] numbers" in msg
    assert "c.yaml:19:33: check mine: custom.0.warning: expected a number or null" in msg


def test_each_bad_category_is_reported_once() -> None:
    from modelhealth.contracts.contract import column_problems

    found = column_problems(
        {"name": "a", "kind": "categorical", "categories": [1, 2], "counts": [1, 2, 3]}
    )
    assert [where for where, _ in found] == [("categories", 0), ("categories", 1)]


def test_custom_checks_load_from_the_current_folder_or_a_file(tmp_path, monkeypatch) -> None:
    """The console script does not put the current folder on sys.path: ``--checks mychecks``
    beside the contract failed with "No module named 'mychecks'"."""
    from modelhealth.contracts.checks import load_registry

    (tmp_path / "localchecks.py").write_text("CHECKS = {'always_bad': lambda frame: False}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert list(load_registry("localchecks")) == ["always_bad"]
    finally:
        sys.modules.pop("localchecks", None)
    assert str(tmp_path) not in sys.path  # put back as it was
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "filechecks.py").write_text("CHECKS = {'fine': lambda frame: 0.0}\n")
    assert list(load_registry(str(tmp_path / "sub" / "filechecks.py"))) == ["fine"]
    with pytest.raises(ValueError, match="not found"):
        load_registry("sub/missing.py")
