"""``modelhealth dashboard --pinot URL --namespace NS`` reads the tables of that namespace.

The dashboard had no namespace option, so it could only read the default Pinot tables, and
the Pinot demo had to reset those (a user's own data) to show its fleet. The broker here is a
stand-in that records the SQL it is sent: which table names the app queries is the point.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.dashboard.context import parse_settings
from tests.conftest import T0
from tests.dashboard.conftest import ONE_MODEL, ROOT, RULES, stand_in_broker

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")
BROKER = "http://127.0.0.1:8099"


def test_namespace_is_parsed_with_pinot() -> None:
    settings = parse_settings(["--pinot", BROKER, "--namespace", "demo_"])
    assert (settings.pinot, settings.namespace) == (BROKER, "demo_")
    assert parse_settings(["--pinot", BROKER]).namespace == ""


@pytest.mark.parametrize("bad", ["demo-1", "1demo", "de mo", "x" * 65])
def test_a_namespace_pinot_cannot_name_tables_with_is_a_usage_error(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--pinot", BROKER, "--namespace", bad])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--namespace" in err and "invalid SQL identifier" in err


def test_namespace_without_pinot_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --db it would be silently ignored: the user would read other data than meant."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--db", str(tmp_path / "x.duckdb"), "--namespace", "demo_"])
    assert exited.value.code == 2
    assert "use it with --pinot" in capsys.readouterr().err


def test_the_dashboard_command_rejects_a_bad_namespace_before_starting_a_server() -> None:
    cmd = [sys.executable, "-m", "modelhealth.cli", "dashboard", "--pinot", BROKER]
    bad = subprocess.run(
        [*cmd, "--namespace", "no-dashes"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2, bad.stderr
    assert "--namespace 'no-dashes'" in bad.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", "dashboard", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "--namespace NS" in helped.stdout


@pytest.fixture
def recording_broker() -> Iterator[tuple[str, list[str]]]:
    """A stand-in broker that answers one model and no rows, and records the SQL."""
    seen: list[str] = []

    def answer(sql: str) -> dict[str, Any]:
        seen.append(sql)
        return ONE_MODEL if "DISTINCT model" in sql else {**ONE_MODEL, "resultTable": NO_ROWS}

    with stand_in_broker(answer) as url:
        yield url, seen


NO_ROWS = {**ONE_MODEL["resultTable"], "rows": []}


def _tables_queried(sqls: list[str]) -> set[str]:
    return {m.group(1) for sql in sqls for m in re.finditer(r"\bFROM\s+(\w+)", sql)}


@pytest.mark.parametrize("namespace", ["demo_", ""])
def test_the_app_queries_the_tables_of_its_namespace(
    namespace: str,
    recording_broker: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, seen = recording_broker
    ns_args = ["--namespace", namespace] if namespace else []
    argv = ["--pinot", url, *ns_args, "--rules", str(RULES), "--state-dir", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv, "--now", T0.isoformat()])
    AppTest.from_file(APP, default_timeout=120).run()
    tables = _tables_queried(seen)
    assert tables, seen
    assert all(t.startswith(namespace) for t in tables), tables
    assert f"{namespace}inferences" in tables
