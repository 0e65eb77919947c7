"""``silence add`` and ``silence list`` print a silence's end alike, to the millisecond the
alerting database keeps: ``add`` printed the time it was asked for to the microsecond
(``…:09.925060``), ``list`` the stored one (``…:09.925000``), as if they were two silences."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from modelhealth.alerting.silences import silence_main
from modelhealth.clock import FakeClock

ASKED = datetime(2026, 11, 20, 12, 0, 9, 925060, tzinfo=UTC)


def _until(text: str) -> str:
    found = re.search(r"until (\S+)", text)
    assert found, text
    return found.group(1)


def test_add_and_list_print_the_same_end(tmp_path: Path) -> None:
    db = str(tmp_path / "alerts.db")
    clock = FakeClock(ASKED)
    added, listed = io.StringIO(), io.StringIO()
    argv = ["--db", db, "add", "model=fraud", "--for", "2h", "-c", "deploying v4"]
    assert silence_main(argv, clock=clock, out=added) == 0
    assert silence_main(["--db", db, "list"], clock=clock, out=listed) == 0
    assert _until(added.getvalue()) == _until(listed.getvalue()) == "2026-11-20T14:00:09.925+00:00"


def test_the_commands_agree_at_any_time(tmp_path: Path) -> None:
    """The real command, at the wall clock's microseconds."""
    db = str(tmp_path / "alerts.db")
    cmd = [sys.executable, "-m", "modelhealth.cli", "silence", "--db", db]
    add = [*cmd, "add", "model=fraud", "--for", "30m", "-c", "why"]
    added = subprocess.run(add, capture_output=True, text=True, timeout=120, check=True)
    listed = subprocess.run([*cmd, "list"], capture_output=True, text=True, timeout=120, check=True)
    assert _until(added.stdout) == _until(listed.stdout), (added.stdout, listed.stdout)
    assert re.fullmatch(r"\S+T\d\d:\d\d:\d\d\.\d{3}\+00:00", _until(added.stdout)), added.stdout
