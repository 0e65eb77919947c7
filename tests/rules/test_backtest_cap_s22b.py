"""Round 22b QA: ``rules backtest --since 520w --step 1s`` planned 314 million ticks and
never finished (a tick costs ~10 ms for one threshold rule, ~1 s for the demo's rules). It is
refused before anything runs, naming the count and how to fit under the cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules import backtest as backtest_module
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules
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
def db(tmp_path: Path) -> Path:
    """Two hours of model m, a request every 30 s, up to T0."""
    path = tmp_path / "m.duckdb"
    store = DuckDBStore(path)
    mon = Monitor(DuckDBSink(store), {}, clock=FakeClock(T0))
    ts = np.arange(to_epoch_ms(T0 - timedelta(hours=2)), to_epoch_ms(T0), 30_000)
    mon.log_batch(
        model="m",
        version="v1",
        features={},
        score=np.full(len(ts), 0.5),
        latency_ms=np.full(len(ts), 20.0),
        ts_ms=ts,
    )
    mon.flush()
    store.close()
    return path


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(RULES)
    return path


def _never_replay(*args: object, **kwargs: object) -> None:
    raise AssertionError("the backtest started: it must be refused before any tick")


def test_a_backtest_of_hundreds_of_millions_of_ticks_is_refused_up_front(
    db: Path, rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backtest_module, "backtest", _never_replay)
    code = rules_main(["backtest", "--db", str(db), "--since", "520w", "--step", "1s", str(rules)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line == (
        "rules backtest: --since 520w --step 1s plans 314,496,001 ticks, more than the "
        "100,000 a backtest may run (--max-ticks 314496001 runs them all); use --step 53m or "
        "more, or --since 27h or less"
    )


def test_the_hint_fits_under_the_cap() -> None:
    from modelhealth.rules.backtest import MAX_TICKS, planned_ticks, tick_budget_problem

    assert planned_ticks(timedelta(weeks=520), timedelta(seconds=1)) == 314_496_001
    assert planned_ticks(timedelta(weeks=520), timedelta(minutes=53)) <= MAX_TICKS
    assert planned_ticks(timedelta(hours=27), timedelta(seconds=1)) <= MAX_TICKS
    assert planned_ticks(timedelta(days=347), timedelta(minutes=5)) <= MAX_TICKS
    assert tick_budget_problem(timedelta(days=30), timedelta(minutes=5)) is None  # the default
    hint = tick_budget_problem(timedelta(days=365), timedelta(minutes=5))
    assert hint is not None and hint.endswith("use --step 6m or more, or --since 347d or less")


def test_exactly_the_cap_runs_and_one_more_is_refused(
    db: Path, rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backtest_module, "MAX_TICKS", 13)
    base = ["backtest", "--db", str(db), "--until", T0.isoformat(), str(rules)]
    assert rules_main([*base, "--since", "1h", "--step", "5m"]) == 0  # 13 ticks
    out = capsys.readouterr().out
    assert "over 13 ticks" in out
    assert rules_main([*base, "--since", "1h", "--step", "4m"]) == 2  # 16 ticks
    err = capsys.readouterr().err
    assert "plans 16 ticks, more than the 13 a backtest may run" in err
    assert "use --step 5m or more, or --since 48m or less" in err


def test_a_backtest_still_reports_its_progress(db: Path, rules: Path) -> None:
    from modelhealth.rules.backtest import backtest

    seen: list[tuple[int, int]] = []
    store = DuckDBStore(db, read_only=True)
    try:
        result = backtest(
            load_rules([str(rules)]).rules,
            store,
            T0 - timedelta(hours=1),
            T0,
            timedelta(minutes=10),
            progress=lambda done, total: seen.append((done, total)),
        )
    finally:
        store.close()
    assert seen == [(i, 7) for i in range(1, 8)]
    assert result.ticks == 7 and len(result.firings) == 1
