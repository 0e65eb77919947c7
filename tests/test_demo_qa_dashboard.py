"""The demo announces a dashboard only if its own child serves it. Another server already on
the port (another Streamlit answers the same health check) used to be taken for the demo's,
whose emails then linked to it while the demo's own Streamlit had exited on the busy port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelhealth.demo.runner import default_rules_dir, demo_main
from modelhealth.demo.wiring import dashboard_started, port_taken, serves_port


class _Healthy(BaseHTTPRequestHandler):
    """Answers ``/_stcore/health`` as a Streamlit server does."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_a_foreign_server_answering_on_the_port_is_not_taken_for_the_dashboard(
    tmp_path: Path,
) -> None:
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    port = int(foreign.server_address[1])
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    # a child that is alive but does not serve the port (a Streamlit still starting, or
    # about to exit with "Port N is not available")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    log = tmp_path / "dashboard.log"
    log.write_text("")
    try:
        assert port_taken(port)
        assert serves_port(child.pid, port) is False
        problem = dashboard_started(child, port, log, wait_s=3)
    finally:
        child.kill()
        child.wait()
        foreign.shutdown()
        foreign.server_close()
    assert problem.startswith(f"no answer from its own server on port {port}"), problem


def test_the_process_that_listens_is_recognised(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    port = int(server.server_address[1])
    try:
        assert serves_port(os.getpid(), port) is True
    finally:
        server.server_close()
    assert not port_taken(port)


def test_the_demo_reports_a_busy_dashboard_port_and_links_nowhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    port = int(foreign.server_address[1])
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--days", "0.05", "--duration", "0", "--dashboard-port", str(port)]
    try:
        code = demo_main([*argv, "--rules", str(default_rules_dir())])
    finally:
        foreign.shutdown()
        foreign.server_close()
    text = capsys.readouterr().out
    assert code == 0
    assert f"dashboard : FAILED to start, port {port} is already in use" in text, text
    assert f"http://127.0.0.1:{port}" not in text
    assert not list((out / "state").glob("dashboard.log"))  # no Streamlit was started
