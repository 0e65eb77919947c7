"""Connects the demo to a backend (DuckDB or Kafka+Pinot), alerting and the dashboard."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelhealth.demo.pager_inbox import PagerInbox
from modelhealth.ingestion.batch import Sink
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import QueryBackend


@dataclass
class Backend:
    """The demo's sink and store, plus how other processes get to read the data."""

    kind: str
    sink: Sink
    store: QueryBackend
    db_path: Path | None = None
    pinot_url: str | None = None
    """The broker the dashboard reads when there is no DuckDB snapshot (``--pinot``)."""
    pinot_namespace: str = ""
    """The prefix of the Pinot tables and Kafka topics the demo writes and reads."""

    def wait_until_visible(self, n_events: int) -> None:
        """Pinot consumes asynchronously; DuckDB writes are visible at once."""
        waiter = getattr(self.store, "wait_for_rows", None)
        if waiter is not None:
            waiter("inferences", n_events)

    def publish_snapshot(self, out: Path) -> Path | None:
        snap = getattr(self.store, "snapshot", None)
        if snap is None:
            return None
        return Path(snap(out / "snapshot.duckdb"))

    def describe(self) -> str:
        if self.db_path:
            return str(self.db_path)
        if self.pinot_url:
            return f"{self.kind} {self.pinot_url}, namespace {self.pinot_namespace}"
        return self.kind

    def close(self) -> None:
        self.sink.close()
        self.store.close()


DEMO_NAMESPACE = "demo_"
"""The demo's own Pinot namespace: its tables (``demo_inferences``…) and topics
(``modelhealth.demo_inferences``…) live next to a user's default tables, which it never
touches. (It used to reset the default tables, deleting the rows of whoever ran the demo
against their own cluster.)"""


def open_backend(kind: str, out: Path) -> Backend:
    if kind == "duckdb":
        from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

        path = out / "modelhealth.duckdb"
        store = DuckDBStore(path)
        return Backend("duckdb", DuckDBSink(store), store, path)
    from modelhealth.ingestion.kafka_sink import KafkaSink
    from modelhealth.pinot_schemas.init import init_pinot
    from modelhealth.store.pinot import PinotStore

    # a fresh demo: earlier demo runs' rows must not count, so its own namespace is reset
    init_pinot(DEMO_NAMESPACE, reset=True)
    store = PinotStore(namespace=DEMO_NAMESPACE)
    return Backend(
        "pinot",
        KafkaSink(namespace=DEMO_NAMESPACE),
        store,
        pinot_url=store.broker_url,
        pinot_namespace=DEMO_NAMESPACE,
    )


PINOT_EXTRAS = ("kafka", "pinotdb", "httpx")
"""Import names the ``kafka`` and ``pinot`` extras bring that ``--backend pinot`` imports."""


def pinot_tables_note(namespace: str = DEMO_NAMESPACE) -> str:
    """What ``--backend pinot`` does to the services' data, said before it does it."""
    from modelhealth.ingestion.schema import TABLES
    from modelhealth.pinot_schemas import table_name

    tables = ", ".join(table_name(name, namespace) for name in TABLES)
    return (
        f"--backend pinot: Pinot namespace {namespace!r}: dropping and recreating the demo's "
        f"own tables {tables} and their Kafka topics (rows of earlier demo runs are deleted; "
        "the default tables and every other namespace are not touched)"
    )


def dashboard_command(
    source: list[str], rules_dir: Path | None = None, state_dir: Path | None = None
) -> str:
    """``modelhealth dashboard`` on the store ``source`` names (``--db FILE`` or ``--pinot
    URL --namespace NS``) with the demo's rules and state folders, shell-quoted: without
    them the dashboard has no alerts, incidents or rule bands to show, only the raw series."""
    args = ["modelhealth", "dashboard", *source]
    if rules_dir is not None:
        args += ["--rules", str(rules_dir)]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    return shlex.join(args)


def pinot_banner(
    backend: Backend, rules_dir: Path | None = None, state_dir: Path | None = None
) -> str:
    """The banner's Pinot line: the namespace used, and how to read it again later.

    The later command names the demo's rules and state folders too: without them the
    dashboard has no alerts, incidents or rule bands to show, only the raw series."""
    ns = backend.pinot_namespace
    later = dashboard_command(
        ["--pinot", str(backend.pinot_url), "--namespace", ns], rules_dir, state_dir
    )
    return (
        f"namespace {ns} (tables {ns}*, topics modelhealth.{ns}*; the default tables are "
        f"untouched); later: {later}"
    )


def check_pinot_services() -> str:
    """ "" when ``--backend pinot`` can run, else one line saying what is missing and what
    to do. Checked before --out is touched: the demo used to empty --out, then fail with a
    traceback on the first request to a Pinot that was not running."""
    import importlib.util

    missing = [name for name in PINOT_EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        return (
            f"--backend pinot needs {', '.join(missing)}, which this installation lacks: "
            "pip install 'modelhealth[kafka,pinot]'"
        )
    from modelhealth.pinot_schemas.init import unreachable_services

    down = unreachable_services()
    if down:
        return (
            f"--backend pinot: {', '.join(down)} not answering; start them with "
            "`modelhealth services up` (or run the demo without --backend pinot)"
        )
    return ""


@dataclass
class Alerting:
    """The demo's notification side: mailbox, pager inbox and the dispatcher feeding them."""

    mailbox: Any
    pager: PagerInbox
    dispatcher: Any

    def stop(self) -> None:
        self.mailbox.stop()
        self.pager.stop()


def start_alerting(
    out: Path, store: QueryBackend, refs: Mapping[str, ModelReference], dashboard_url: str
) -> Alerting:
    """A local SMTP server writing ``out/mailbox``, a local pager inbox, and a dispatcher
    routing every alert to email and criticals also to the pager."""
    from modelhealth.alerting.config import ReceiverSpec
    from modelhealth.alerting.mailbox import LocalMailbox
    from modelhealth.alerting.notifiers import build_notifiers
    from modelhealth.alerting.pipeline import Dispatcher
    from modelhealth.alerting.routing import RoutingConfig

    mailbox = LocalMailbox(out / "mailbox")
    mailbox.start()
    pager = PagerInbox(out / "pager" / "events.jsonl").start()
    env = {
        **os.environ,
        "MODELHEALTH_SMTP_HOST": "127.0.0.1",
        "MODELHEALTH_SMTP_PORT": str(mailbox.port),
        "MODELHEALTH_PAGERDUTY_ROUTING_KEY": "demo-routing-key",
    }
    routing = RoutingConfig.default(
        email_to=["model-owners@example.com"], dashboard_url=dashboard_url
    )
    routing = replace(
        routing,
        receivers={
            **routing.receivers,
            "pager": ReceiverSpec(name="pager", kind="pagerduty", options={"url": pager.url}),
        },
    )
    dispatcher = Dispatcher(
        routing,
        build_notifiers(routing, env),
        out / "state" / "alerts.db",  # where the dashboard reads notifications and adds silences
        store=store,
        references=refs,
    )
    return Alerting(mailbox, pager, dispatcher)


def dashboard_url(enabled: bool, port: int) -> str:
    """Where notifications link to: nowhere when no dashboard is started (a link to a dead
    port is worse than none)."""
    return f"http://127.0.0.1:{port}" if enabled else ""


def start_dashboard(
    db: Path | None,
    rules_dir: Path,
    state_dir: Path,
    port: int,
    pinot: str | None = None,
    namespace: str = "",
) -> subprocess.Popen[bytes] | None:
    """``modelhealth dashboard`` on the DuckDB snapshot ``db``, else on the Pinot broker
    ``pinot`` and its tables of ``namespace`` (``--backend pinot`` publishes no snapshot);
    None with neither."""
    if db is not None:
        source = ["--db", str(db)]
    elif pinot:
        source = ["--pinot", pinot, *(["--namespace", namespace] if namespace else [])]
    else:
        return None
    cmd = [
        sys.executable,
        "-m",
        "modelhealth.cli",
        "dashboard",
        *source,
        "--rules",
        str(rules_dir),
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
    ]
    log = (state_dir / "dashboard.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``host:port`` (a bind without SO_REUSEADDR
    fails then), checked before starting the dashboard so its URL is never announced for
    another program's server."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP ``port`` (Linux ``/proc/net/tcp*``), None elsewhere."""
    found: set[str] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(t.exists() for t in tables):
        return None
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXADDR:HEXPORT; state 0A is LISTEN; field 9 is the inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                found.add(fields[9])
    return found


def serves_port(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on ``port``; None when this cannot be
    told (no ``/proc``). ``modelhealth dashboard`` execs Streamlit, so the child's pid is the
    server's."""
    inodes = _listening_inodes(port)
    fd_dir = Path(f"/proc/{pid}/fd")
    if inodes is None or not fd_dir.is_dir():
        return None
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def dashboard_started(
    proc: subprocess.Popen[bytes], port: int, log: Path, wait_s: float = 90.0
) -> str:
    """ "" once the dashboard ``proc`` answers on ``port``, else why not (its last log lines).

    The demo used to print the URL whatever happened: with the port taken, ``modelhealth
    dashboard`` exited at once and the URL pointed at whatever else was listening there. An
    answer on the port counts only if it is ``proc`` that listens there (another Streamlit
    answers the same health check before ``proc`` gives up on the port).
    """
    import time
    import urllib.request

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            last = (log.read_text(errors="replace").strip().splitlines() or [""])[-1]
            return f"exited with code {proc.returncode}: {last} (log: {log})"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                pass
        except OSError:
            time.sleep(0.5)
            continue
        if serves_port(proc.pid, port) is not False:
            return ""
        time.sleep(0.5)  # someone else answers: wait for proc to bind, or to exit
    return f"no answer from its own server on port {port} after {wait_s:.0f}s (log: {log})"
