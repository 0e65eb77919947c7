"""An alerting database (outbox, notification log, silences) that is not a SQLite file.

``rules run`` and ``silence list`` ended with a traceback, ``sqlite3.DatabaseError: file is
not a database``, that named no file and said nothing of what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelhealth.alerting.silences import silence_main
from modelhealth.store.duckdb import DuckDBStore
from tests.rules.test_run_daemon import LOUD

GARBAGE = bytes(range(256)) * 32


def test_rules_run_names_an_unreadable_alerting_database(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    DuckDBStore(db).close()
    alerts_db = tmp_path / "state" / "alerts.db"
    alerts_db.parent.mkdir()
    alerts_db.write_bytes(GARBAGE)
    rules = tmp_path / "fraud.yaml"
    rules.write_text(LOUD)
    cmd = [sys.executable, "-m", "modelhealth.cli", "rules", "run", "--db", str(db),
           "--state", str(tmp_path / "state" / "alerts.json"), "--max-ticks", "1",
           "--email-to", "oncall@example.com", str(rules)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr
    assert f"alerting database {alerts_db} is unreadable" in run.stderr
    assert alerts_db.read_bytes() == GARBAGE  # left for the operator to look at


def test_silence_list_names_an_unreadable_alerting_database(tmp_path: Path, capsys) -> None:
    alerts_db = tmp_path / "alerts.db"
    alerts_db.write_bytes(GARBAGE)
    assert silence_main(["list", "--db", str(alerts_db)]) == 1
    assert f"alerting database {alerts_db} is unreadable" in capsys.readouterr().err
