"""``rules backtest --max-ticks N`` raises (or lowers) the 100,000-tick cap.

The cap refuses a replay that would never finish (``--since 520w --step 1s``), but a team
with a cheap config and a long history had no way past it; the refusal now names the
option, and a value that is not a positive integer is a usage error saying so.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules import backtest as backtest_module
from modelhealth.rules.backtest import tick_budget_problem
from modelhealth.rules.cli import rules_main
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

RULES = """model: m
rules:
  - name: busy
    metric: count
    window: 5m
    detector: {type: threshold, above: 0}
"""


@pytest.fixture
def argv(tmp_path: Path) -> list[str]:
    """``rules backtest`` of one rule over a DuckDB file with two hours of model m to T0."""
    db = tmp_path / "m.duckdb"
    store = DuckDBStore(db)
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T0))
    ts = np.arange(to_epoch_ms(T0 - timedelta(hours=2)), to_epoch_ms(T0), 30_000)
    mon.log_batch(model="m", version="v1", features={}, score=np.full(len(ts), 0.5),
                  latency_ms=np.full(len(ts), 20.0), ts_ms=ts)  # fmt: skip
    mon.flush()
    store.close()
    rules = tmp_path / "m.yaml"
    rules.write_text(RULES)
    return ["backtest", "--db", str(db), "--until", T0.isoformat(), str(rules)]


def test_the_refusal_names_the_option_that_lifts_the_cap(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert rules_main([*argv, "--since", "520w", "--step", "1s"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "rules backtest: --since 520w --step 1s plans 314,496,001 ticks, more than the "
        "100,000 a backtest may run (--max-ticks 314496001 runs them all); use --step 53m or "
        "more, or --since 27h or less"
    )


def test_max_ticks_lets_a_longer_replay_run(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backtest_module, "MAX_TICKS", 13)
    assert rules_main([*argv, "--since", "1h", "--step", "4m"]) == 2  # 16 ticks
    assert "--max-ticks 16" in capsys.readouterr().err
    assert rules_main([*argv, "--since", "1h", "--step", "4m", "--max-ticks", "16"]) == 0
    assert "over 16 ticks" in capsys.readouterr().out


def test_max_ticks_lowers_the_cap_too(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert rules_main([*argv, "--since", "1h", "--step", "5m", "--max-ticks", "12"]) == 2
    err = capsys.readouterr().err
    assert "plans 13 ticks, more than --max-ticks 12 (--max-ticks 13 runs them all)" in err


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "1.5", "1e6", ""])
def test_a_max_ticks_that_is_not_a_positive_integer_is_a_usage_error(
    argv: list[str], raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        rules_main([*argv, "--max-ticks", raw])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --max-ticks: must be a positive integer, e.g. 500000; got {raw!r}" in err


def test_the_help_documents_max_ticks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        rules_main(["backtest", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--max-ticks N" in text
    assert "default 100,000" in text, text


def test_the_budget_takes_the_cap_it_is_given() -> None:
    assert tick_budget_problem(timedelta(hours=1), timedelta(minutes=5), 13) is None
    hint = tick_budget_problem(timedelta(hours=1), timedelta(minutes=5), 12)
    assert hint is not None and "use --step 6m or more, or --since 55m or less" in hint, hint
