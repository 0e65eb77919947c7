"""``--namespace NS`` for the store options of ``rules eval|run|backtest`` and ``anomaly
export``: with ``--backend pinot`` they read the tables ``modelhealth pinot init --namespace
NS`` made.

There was no such option, so these commands could only read the un-prefixed tables: on a
broker holding the demo's ``demo_*`` tables they silently read other (or no) data. The
broker here is a stand-in that records the SQL it is sent and refuses every query: which
tables the commands name is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.errors import StoreUnavailable
from modelhealth.rules.cli import _parser, open_store, rules_main

RULES = """
model: fraud
rules:
  - name: slow
    metric: latency.p99
    window: 5m
    detector: {type: threshold, above: 100000}
"""
EXPORT_TO = ("--metric", "count", "--out", "o")
TABLES = ("inferences", "feature_stats", "feature_bins", "outcomes")


@contextmanager
def recording_broker() -> Iterator[tuple[str, list[str]]]:
    """A Pinot broker on a free loopback port that records each query's SQL and answers
    with a query error (so the commands stop at their first query); yields URL and SQL."""
    seen: list[str] = []

    class Broker(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["sql"])
            body = {"exceptions": [{"errorCode": 190, "message": "TableDoesNotExistError"}]}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _tables_named(sql: list[str]) -> set[str]:
    """The store tables (with any prefix) the statements read."""
    words = {w.strip('",();') for s in sql for w in s.split()}
    return {w for w in words if w.endswith(TABLES)}


@pytest.mark.parametrize("command", ["eval", "run", "backtest"])
def test_the_rules_commands_take_a_namespace(command: str) -> None:
    args = _parser().parse_args(
        [command, "--backend", "pinot", "--namespace", "demo_", "rules.yaml"]
    )
    assert args.namespace == "demo_"
    assert _parser().parse_args([command, "rules.yaml"]).namespace == ""


def test_open_store_reads_the_namespaced_tables() -> None:
    broker = ["--broker", "http://127.0.0.1:1"]
    args = _parser().parse_args(
        ["eval", "--backend", "pinot", *broker, "--namespace", "demo_", "rules.yaml"]
    )
    store = open_store(args)
    try:
        assert store.namespace == "demo_"
        assert sorted(store.tables.values()) == sorted(f"demo_{t}" for t in TABLES)
    finally:
        store.close()


def test_rules_eval_queries_only_the_namespaced_tables(tmp_path: Path) -> None:
    rules = tmp_path / "fraud.yaml"
    rules.write_text(RULES)
    with recording_broker() as (url, seen):
        code = rules_main(
            ["eval", "--backend", "pinot", "--broker", url, "--namespace", "demo_", str(rules)]
        )
    assert code == 1  # every query refused: a store error, reported
    tables = _tables_named(seen)
    assert tables and all(t.startswith("demo_") for t in tables), seen


def test_anomaly_export_queries_only_the_namespaced_tables(tmp_path: Path) -> None:
    out = ["--metric", "latency.p99", "--out", str(tmp_path / "o")]
    with recording_broker() as (url, seen), pytest.raises(StoreUnavailable):  # refused query
        anomaly_main(
            ["export", "--backend", "pinot", "--broker", url, "--namespace", "demo_", *out]
        )
    tables = _tables_named(seen)
    assert tables and all(t.startswith("demo_") for t in tables), seen


@pytest.mark.parametrize("bad", ["demo-1", "1demo", "de mo", "x" * 65])
def test_a_namespace_pinot_cannot_name_tables_with_is_a_usage_error(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        rules_main(["eval", "--backend", "pinot", "--namespace", bad, "rules.yaml"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"rules eval: --namespace {bad!r}: invalid SQL identifier" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["rules", "eval", "--db", "x.duckdb", "--namespace", "demo_", "r.yaml"],
        ["rules", "run", "--backend", "duckdb", "--namespace", "demo_", "r.yaml"],
        ["rules", "backtest", "--namespace", "demo_", "r.yaml"],
        ["anomaly", "export", "--db", "x.duckdb", "--namespace", "demo_", *EXPORT_TO],
    ],
)
def test_a_namespace_with_the_duckdb_backend_is_a_usage_error(
    argv: list[str], tmp_path: Path
) -> None:
    """DuckDB has no namespaces: the option would be ignored, and another store read."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("--namespace names Pinot tables: use it with --backend pinot")
    ), proc.stderr
    assert "Traceback" not in proc.stderr
