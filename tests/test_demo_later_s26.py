"""The command the DuckDB demo prints to open its dashboard again later.

The Pinot demo printed one (``pinot_banner``); the DuckDB demo, the default, printed only
the snapshot's path, so a user who stopped the demo had to work out ``--db``, ``--rules``
(the demo's own copy, with its learned rule) and ``--state-dir`` from the README.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from modelhealth.dashboard.context import parse_settings
from modelhealth.demo import wiring


def test_the_duckdb_later_command_opens_the_snapshot_with_the_demo_s_rules_and_state(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo output"  # a space: the command must stay one argument per path
    line = wiring.dashboard_command(
        ["--db", str(out / "snapshot.duckdb")], out / "config" / "rules", out / "state"
    )
    argv = shlex.split(line)
    assert argv[:2] == ["modelhealth", "dashboard"]
    settings = parse_settings(argv[2:])
    assert settings.db == out / "snapshot.duckdb"
    assert (settings.rules_dir, settings.state_dir) == (out / "config" / "rules", out / "state")
    assert settings.alerts_db == out / "state" / "alerts.db"  # the demo's silences too
