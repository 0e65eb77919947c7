"""``modelhealth dashboard``: start ``streamlit run app.py`` headless on a chosen address.

    modelhealth dashboard --db demo-snapshot.duckdb --rules examples/rules \\
        --state-dir .modelhealth/state --port 8501

The app's own options (``--db`` or ``--pinot`` [``--namespace``], ``--rules``, ``--state-dir``,
``--alerts-db``, ``--now``, ``--stale-after``) are validated here first, so a typo fails before
a server starts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

APP = Path(__file__).with_name("app.py")


def streamlit_command(
    app_args: list[str], port: int, host: str, python: str = sys.executable
) -> list[str]:
    """The ``streamlit run`` command line (also used by the browser test)."""
    return [
        python, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--", *app_args,
    ]  # fmt: skip


def _parse_app_settings(app_args: list[str]) -> Any:
    """The app's settings (a ``context.Settings``), read with the app's own parser.

    Importing it imports the app's Streamlit caches, which outside a server log five times
    that there is no runtime, before any help or usage error: that one message is filtered."""
    import logging

    logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(
        lambda record: "No runtime found" not in record.getMessage()
    )
    from modelhealth.dashboard.context import parse_settings

    return parse_settings(app_args)


def dashboard_main(argv: list[str]) -> int:
    """Run the dashboard until interrupted; returns the server's exit code."""
    p = argparse.ArgumentParser(
        prog="modelhealth dashboard",
        description="Start the Streamlit dashboard (other options go to the app: --db FILE "
        "or --pinot BROKER_URL [--namespace NS], --rules DIR --state-dir DIR --alerts-db FILE "
        "--now ISO --stale-after MIN).",
    )
    p.add_argument("--port", type=int, default=8501, help="port (default 8501; 0 is not allowed)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    args, app_args = p.parse_known_args(argv)
    if not 0 < args.port < 65536:
        p.error(f"--port must be 1-65535, got {args.port}")
    settings = _parse_app_settings(app_args)  # exits with a usage error on a bad option
    if settings.db is None and not settings.pinot:
        p.error("--db FILE (DuckDB file or the demo's snapshot) or --pinot BROKER_URL is required")
    if settings.db is not None and not settings.db.exists():
        print(
            f"modelhealth dashboard: note: {settings.db} does not exist yet; the dashboard "
            "waits for it (start `modelhealth demo`)",
            file=sys.stderr,
        )
    cmd = streamlit_command(app_args, args.port, args.host)
    if os.name == "posix":
        # become the server (same pid): a supervisor's SIGTERM then stops Streamlit itself;
        # a child would have been orphaned, still serving, when this wrapper was terminated
        os.execv(cmd[0], cmd)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0
