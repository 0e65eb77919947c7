"""QA findings 2, 7, 8 and 11 on data contracts: ±inf, misaligned stored bins, duplicate keys
and columns, custom checks, CLI input errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.contracts import Status, build_contract, validate_frame, validate_window
from modelhealth.contracts.checks import CheckRegistry
from modelhealth.contracts.cli import contract_main
from modelhealth.contracts.contract import parse_contract, read_table
from modelhealth.errors import ConfigError
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 2, 1, tzinfo=UTC)
HOUR = 3_600_000


def _result(report, check: str, column: str, message: str = ""):
    found = [
        r
        for r in report.results
        if r.check == check and r.column == column and message in r.message
    ]
    assert len(found) == 1, f"{check}/{column}/{message!r}: {found}"
    return found[0]


def _window(contract, profile, batch: pd.DataFrame) -> DuckDBStore:
    """``batch`` logged through the SDK (with ``profile``, or none) into a real store."""
    store = DuckDBStore(":memory:")
    profiles = {"m": profile} if profile is not None else {}
    mon = Monitor(DuckDBSink(store), profiles, clock=FakeClock(T0))
    mon.log_batch(
        model="m",
        version="v1",
        features={c: batch[c].to_numpy() for c in batch.columns},
        score=np.zeros(len(batch)),
        latency_ms=np.ones(len(batch)),
        ts_ms=np.full(len(batch), to_epoch_ms(T0)),
    )
    mon.close()
    return store


# -- finding 7: ±inf counts as a special value in batches, as in the SDK ------------------------


def test_infinities_give_the_same_verdicts_in_a_batch_and_a_stored_window() -> None:
    """10 of 300 values ±inf: the batch binned them as under/overflow (critical psi 0.25,
    out_of_range warning) while the same rows through the SDK read healthy psi 0.07."""
    rng = np.random.default_rng(2)
    contract = build_contract("m", pd.DataFrame({"amt": rng.normal(100, 10, 1000)}))
    amt = np.r_[rng.normal(100, 10, 290), [np.inf] * 5, [-np.inf] * 5]
    batch = pd.DataFrame({"amt": amt})
    store = _window(contract, contract.to_reference(), batch)
    window = validate_window(contract, store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR))
    report = validate_frame(contract, batch)
    for check in ("psi", "out_of_range"):
        assert _result(report, check, "amt").value == pytest.approx(
            _result(window, check, "amt").value
        )
        assert _result(report, check, "amt").status == _result(window, check, "amt").status
    assert _result(report, "psi", "amt").status == Status.HEALTHY
    inf = _result(report, "special_rate", "amt", "±inf")
    assert inf.value == pytest.approx(10 / 300) and inf.status == Status.HEALTHY
    assert "inf" not in _result(report, "out_of_range", "amt").message


def test_training_infinities_are_a_special_rate_not_the_range() -> None:
    train = pd.DataFrame({"amt": np.r_[np.arange(95.0), [np.inf] * 5]})
    col = build_contract("m", train).columns["amt"]
    assert col.max == 94.0 and col.special_rates["inf"] == pytest.approx(0.05)
    assert col.missing_rate == pytest.approx(0.05)  # what a window's nulls + specials match


# -- finding 2 (contracts side): stored bins are matched with the contract's by label ----------


def test_a_window_binned_without_the_profile_is_not_judged() -> None:
    """The SDK without a profile stores every category as __other__ in bin 0, the contract's
    bin of 'a' (98.5 % of training): a window of only unseen values read psi 0.065."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"cat": rng.choice(["a", "b", "c"], 1000, p=[0.985, 0.01, 0.005])})
    contract = build_contract("m", train)
    store = _window(contract, None, pd.DataFrame({"cat": np.array(["zz"] * 1000)}))
    report = validate_window(contract, store, Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR))
    psi = _result(report, "psi", "cat")
    assert np.isnan(psi.value) and "not judged" in psi.message and "__other__" in psi.message
    assert not [r for r in report.results if r.check == "out_of_domain"]
    judged = _window(contract, contract.to_reference(), pd.DataFrame({"cat": ["zz"] * 1000}))
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + HOUR)
    assert _result(validate_window(contract, judged, scope), "psi", "cat").value > 10


# -- finding 8: duplicate keys and columns ------------------------------------------------------

_CONTRACT = """\
model: m
columns:
- name: amount
  dtype: float64
  kind: numeric
  min: 0.0
  max: 10.0
  edges: [0.0, 5.0, 10.0]
  counts: [0, 5, 5, 0]
- name: country
  dtype: object
  kind: categorical
  categories: [DE, FR]
  counts: [5, 5, 0]
"""


def test_a_duplicate_key_in_a_column_is_an_error_at_its_line() -> None:
    text = _CONTRACT.replace("  min: 0.0\n", "  min: 0.0\n  min: 50\n")
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "c.yaml")
    assert "c.yaml:7:3: column amount: columns.0.min: duplicate key (first at line 6)" in str(
        err.value
    )


def test_a_duplicate_top_level_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse_contract(_CONTRACT.replace("model: m\n", "model: m\nmodel: n\n"), "c.yaml")
    assert "c.yaml:2:1: model: duplicate key (first at line 1)" in str(err.value)


def test_a_column_listed_twice_is_an_error_naming_both() -> None:
    text = _CONTRACT + "- name: amount\n  dtype: float64\n  kind: numeric\n  edges: [1.0]\n"
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "c.yaml")
    msg = str(err.value)
    assert "c.yaml:15:3: column amount: columns.2.name: column 'amount' is listed twice" in msg
    assert "(first at line 3)" in msg


# -- finding 11: custom checks, partial contracts, CLI input ------------------------------------


def test_a_custom_check_returning_nan_is_that_checks_error() -> None:
    text = _CONTRACT + "custom:\n- {check: nothing, column: amount, warning: 0.1, critical: 0.5}\n"
    contract = parse_contract(text, "c.yaml")
    registry = CheckRegistry({"nothing": lambda column: float("nan")})
    report = validate_frame(contract, pd.DataFrame({"amount": [1.0], "country": ["DE"]}), registry)
    result = _result(report, "nothing", "amount")
    assert result.status == Status.CRITICAL and "returned NaN" in result.message


def test_inverted_custom_bounds_are_rejected_at_their_line() -> None:
    text = _CONTRACT + "custom:\n- {check: mine, column: amount, warning: 0.5, critical: 0.1}\n"
    with pytest.raises(ConfigError) as err:
        parse_contract(text, "c.yaml")
    assert "c.yaml:16:33: check mine: custom.0.warning: warning 0.5 is above critical" in str(
        err.value
    )


def test_an_unregistered_check_names_its_line() -> None:
    text = _CONTRACT + "custom:\n- {check: ok, column: amount}\n- {check: nosuch}\n"
    contract = parse_contract(text, "c.yaml")
    frame = pd.DataFrame({"amount": [1.0], "country": ["DE"]})
    with pytest.raises(ConfigError) as err:
        validate_frame(contract, frame, CheckRegistry({"ok": lambda column: True}))
    assert str(err.value).startswith("c.yaml:17:3: custom: custom check 'nosuch' is not registered")


def test_a_broken_column_does_not_stop_the_others(tmp_path: Path, capsys) -> None:
    from modelhealth.contracts.contract import parse_contract_partial

    text = _CONTRACT.replace("  min: 0.0\n", "  min: low\n")
    contract, issues = parse_contract_partial(text, "c.yaml")
    assert [str(i) for i in issues] == [
        "c.yaml:6:3: column amount: columns.0.min: expected a number or null, got str 'low'"
    ]
    assert list(contract.columns) == ["country"] and contract.skipped == ("amount",)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    # 100 rows: PSI is judged from 100 values on (validate.PSI_MIN_COUNT)
    pd.DataFrame({"amount": [1.0, 2.0] * 50, "country": ["XX", "XX"] * 50}).to_csv(
        tmp_path / "b.csv", index=False
    )
    out = io.StringIO()
    code = contract_main(["validate", str(path), "--data", str(tmp_path / "b.csv")], out)
    assert code == 1  # never green with a column unchecked
    assert "critical psi              country" in out.getvalue()  # the rest was checked
    assert "unexpected_column" not in out.getvalue()  # amount is broken, not new
    assert "c.yaml:6:3: column amount: columns.0.min" in capsys.readouterr().err


@pytest.mark.parametrize("bins", ["-3", "0", "x"])
def test_bins_must_be_a_positive_whole_number(tmp_path: Path, capsys, bins: str) -> None:
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    args = ["create", "--reference", str(tmp_path / "t.csv"), "--model", "m"]
    with pytest.raises(SystemExit):
        contract_main([*args, "--out", str(tmp_path / "c.yaml"), "--bins", bins])
    assert "argument --bins: expected a whole number >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="bins must be a positive whole number"):
        build_contract("m", pd.DataFrame({"a": [1.0]}), bins=0)


def test_an_empty_csv_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty"):
        read_table(tmp_path / "empty.csv")
