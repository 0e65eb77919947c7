"""The file options of ``rules eval|run|backtest`` and ``--email-to`` are checked up front.

A directory given as ``--state`` ended in an IsADirectoryError traceback from the state
store, one given as ``--alerts-db`` in sqlite's "unable to open database file" traceback,
and ``--db DIR`` made every tick of ``rules run`` a store "outage" (exit 0 after
``--max-ticks``); ``--email-to oncall`` (or ``''``) was taken as an address and failed only
when a mail was due. Each is now one line naming the option and what it expects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.cli import rules_main
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

RULES = """
model: fraud
rules:
  - name: slow
    metric: latency.p99
    window: 5m
    detector: {type: threshold, above: 100000}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A real DuckDB store with a few fraud requests, and a rule file for it."""
    frame = pd.DataFrame({"amount": [3.0, 12.5, 40.0, 7.1]})
    reference = build_reference("fraud", frame, score=np.array([0.1, 0.9, 0.4, 0.2]))
    db = tmp_path / "health.duckdb"
    monitor = Monitor(DuckDBSink(DuckDBStore(str(db))), {"fraud": reference})
    for i in range(3):
        monitor.log(model="fraud", version="v1", features={"amount": 5.0 + i},
                    score=0.5, latency_ms=10.0, request_id=f"r-{i}")  # fmt: skip
    monitor.close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(RULES)
    return db, rules


def _errors(err: str) -> list[str]:
    """stderr without the log lines and notes of a run (what the user reads as errors)."""
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("note:", "20"))]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        code = rules_main(argv)
    except SystemExit as exc:  # open_store's refusals
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = int(exc.code or 0)
    return code, _errors(capsys.readouterr().err)


def test_a_directory_as_state_is_one_line_naming_the_option(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, rules = setup
    (tmp_path / "st2").mkdir()
    for command in (["eval", "--once"], ["run", "--max-ticks", "1"]):
        code, lines = _refused(
            [*command, "--db", str(db), "--state", str(tmp_path / "st2"), str(rules)], capsys
        )
        assert code == 2, lines
        assert len(lines) == 1, lines
        assert "--state" in lines[0] and "is a directory" in lines[0], lines
        assert "e.g. state/alerts.json" in lines[0], lines


def test_a_state_whose_folder_is_a_file_is_refused(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, rules = setup
    (tmp_path / "afile").write_text("x")
    state = tmp_path / "afile" / "alerts.json"
    code, lines = _refused(["eval", "--db", str(db), "--state", str(state), str(rules)], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "--state" in lines[0] and "is not a directory" in lines[0], lines


def test_a_directory_as_alerts_db_or_routing_is_refused(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, rules = setup
    folder = tmp_path / "st2"
    folder.mkdir()
    base = ["eval", "--db", str(db), str(rules)]
    code, lines = _refused(
        [*base, "--email-to", "oncall@example.com", "--alerts-db", str(folder)], capsys
    )
    assert code == 2 and len(lines) == 1, lines
    assert "--alerts-db" in lines[0] and "e.g. state/alerts.db" in lines[0], lines
    code, lines = _refused([*base, "--routing", str(folder)], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "--routing" in lines[0] and "routing YAML file" in lines[0], lines


def test_an_alert_db_from_the_environment_that_is_a_directory_is_named(
    setup: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, rules = setup
    (tmp_path / "st2").mkdir()
    monkeypatch.setenv("MODELHEALTH_ALERT_DB", str(tmp_path / "st2"))
    code, lines = _refused(
        ["eval", "--db", str(db), "--email-to", "oncall@example.com", str(rules)], capsys
    )
    assert code == 1 and len(lines) == 1, lines
    assert "$MODELHEALTH_ALERT_DB" in lines[0] and "is a directory" in lines[0], lines


@pytest.mark.parametrize("command", [["eval"], ["run", "--max-ticks", "1"], ["backtest"]])
def test_a_directory_as_db_is_refused_not_an_outage(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    (tmp_path / "st2").mkdir()
    code, lines = _refused(
        [*command, "--db", str(tmp_path / "st2"), "--state", str(tmp_path / "s.json"), str(rules)]
        if command[0] != "backtest"
        else [*command, "--db", str(tmp_path / "st2"), str(rules)],
        capsys,
    )
    assert code != 0, lines
    assert lines == [
        f"rules: --db {tmp_path / 'st2'} is a directory; expected a DuckDB database file,"
        " e.g. health.duckdb"
    ]


@pytest.mark.parametrize("address", ["oncall", "", "a@b@c.com", "x@y.com, z@w.com"])
def test_email_to_is_checked_as_the_routing_checks_addresses(
    address: str,
    setup: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, rules = setup
    monkeypatch.chdir(tmp_path)  # rules run's default --state is relative
    for command in (["eval", "--once"], ["run", "--max-ticks", "1"]):
        code, lines = _refused(
            [*command, "--db", str(db), "--email-to", address, str(rules)], capsys
        )
        assert code == 2, lines
        assert len(lines) == 1 and lines[0].startswith(f"rules {command[0]}: --email-to "), lines
        assert "expected one address like oncall@example.com" in lines[0], lines


def test_a_good_email_to_still_evaluates(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, rules = setup
    state = tmp_path / "state" / "alerts.json"
    argv = ["eval", "--db", str(db), "--state", str(state), "--email-to", "Ops <ops@example.com>"]
    assert rules_main([*argv, str(rules)]) == 0
    assert "evaluated 1 rule(s)" in capsys.readouterr().out
    assert state.with_name("alerts.db").is_file()


NOBODY = 65534


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to run the command as another user (root reads any file)",
)
def test_a_state_file_that_cannot_be_read_is_one_line(setup: tuple[Path, Path]) -> None:
    """Run as user nobody on files only root may read: the permission-denied case."""
    db, rules = setup
    shared = Path(f"/tmp/mh-perm-{os.getpid()}-{time.monotonic_ns()}")
    shared.mkdir(mode=0o755)
    try:
        for src in (db, rules / "fraud.yaml"):
            shutil.copy(src, shared / src.name)
            (shared / src.name).chmod(0o644)
        state = shared / "alerts.json"
        state.write_text("[]")
        state.chmod(0o600)  # root's own: nobody can neither read nor write it
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        files = ["--db", str(shared / db.name), "--state", str(state), str(shared / "fraud.yaml")]
        cmd = [*as_nobody, sys.executable, "-m", "modelhealth.cli", "rules", "eval", *files]
        env = {**os.environ, "HOME": str(shared)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    finally:
        shutil.rmtree(shared)
    lines = _errors(proc.stderr)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert lines == [f"rules eval: --state {state} cannot be read (permission denied); expected"
                     " a file path, e.g. state/alerts.json"], proc.stderr[-2000:]  # fmt: skip
