"""``rules eval|run --db`` is checked by the same function as the other file options (and
``silence --db``): a store file the user may not read is one line naming the option and
what it expects (exit 1), not a store "outage" retried at every tick.

Run as user ``nobody`` on a file only root may read (root reads any file)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rules.test_cli_paths_s24c import setup  # noqa: F401  (a fixture)

NOBODY = 65534


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to run the command as another user (root reads any file)",
)
@pytest.mark.parametrize("command", ["eval", "run"])
def test_a_store_nobody_may_read_is_one_line(
    command: str,
    setup: tuple[Path, Path],  # noqa: F811
) -> None:
    db, rules = setup
    shared = Path(f"/tmp/s25c-db-{os.getpid()}-{time.monotonic_ns()}")
    shared.mkdir(mode=0o777, parents=True)
    shared.chmod(0o777)  # nobody may write its state and alerting database here
    try:
        shutil.copy(db, shared / db.name)
        (shared / db.name).chmod(0o600)  # root's own
        shutil.copy(rules / "fraud.yaml", shared / "fraud.yaml")
        (shared / "fraud.yaml").chmod(0o644)
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        files = ["--db", str(shared / db.name), "--state", str(shared / "st" / "alerts.json")]
        if command == "run":
            files += ["--interval", "1s", "--max-ticks", "1"]
        cmd = [*as_nobody, sys.executable, "-m", "modelhealth.cli", "rules", command, *files,
               str(shared / "fraud.yaml")]  # fmt: skip
        env = {**os.environ, "HOME": str(shared)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    finally:
        shutil.rmtree(shared)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("20")]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert lines == [
        f"rules: --db {shared / db.name} cannot be read (permission denied); expected a DuckDB"
        " database file, e.g. health.duckdb"
    ], proc.stderr[-2000:]
