"""``pinot init`` creates nothing unless every service it needs answers, ``services down`` is
prompt, and the Pinot demo keeps to its own namespace.

QA found: ``pinot init`` with the controller down created the Kafka topics and then failed
(half a setup); ``services down`` waited ~30 s for pinot-server (it drained queries for 15 s,
then stopped each idle consuming segment after its 5 s Kafka poll, and was SIGKILLed at 30 s),
10 s more for the broker's shutdown delay; the Pinot demo reset the default tables.

Everything here runs on services of this module's own: free ports and its own run directory
(never the session's services, which another test run may be using), always stopped at the
end. The jars come from ``fetch_all`` (a no-op once cached).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelhealth.services import ServicesError, kafka, pinot, ports, process
from modelhealth.services.jvm import down, up
from modelhealth.services.process import Stopped
from tests.conftest import free_port
from tests.integration.conftest import PORT_ENV, own_services_env, use_ports

pytestmark = pytest.mark.integration

NS = "s20_"
"""The namespace ``pinot init`` is tried on (a fresh run directory: nothing else uses it)."""
MODELHEALTH = [sys.executable, "-m", "modelhealth.cli"]


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """This module's run directory and free ports (nothing started yet); the environment
    for CLI runs. Whatever the tests started is stopped at the end."""
    with own_services_env(tmp_path_factory, "s20_run") as env:
        try:
            yield env
        finally:
            down(timeout=30, log=lambda _: None)


def _start_kafka_only(timeout: float = 180.0) -> None:
    if process.running_pid(kafka.NAME) is None:
        process.start(kafka.spec())
    deadline = time.monotonic() + timeout
    while not kafka.healthy():
        assert time.monotonic() < deadline, "own Kafka not healthy in time"
        time.sleep(0.5)


def _topics(prefix: str) -> list[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=ports.KAFKA_BOOTSTRAP, request_timeout_ms=10000)
    try:
        return sorted(t for t in admin.list_topics() if t.startswith(prefix))
    finally:
        admin.close()


def _pinot_init(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELHEALTH, "pinot", "init", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


# -- 1. pinot init checks every service first -------------------------------------------


def test_pinot_init_with_the_controller_down_creates_nothing_and_names_it(
    own: dict[str, str],
) -> None:
    _start_kafka_only()  # Kafka answers; the controller's and broker's ports are closed
    done = _pinot_init(own, "--namespace", NS)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert f"Pinot controller ({ports.PINOT_CONTROLLER_URL})" in lines[0]
    assert f"Pinot broker ({ports.PINOT_BROKER_URL})" in lines[0]
    assert "Kafka" not in lines[0]  # it answers: naming it would send the user the wrong way
    assert "`modelhealth services up`" in lines[0] and "nothing was created" in lines[0]
    assert _topics(f"modelhealth.{NS}") == []


class _SchemaRejectingController(BaseHTTPRequestHandler):
    """A controller (and broker) that answers its health check but fails ``POST /schemas``:
    the step after the topics fails, as when the controller dies in the middle of ``init``."""

    def do_GET(self) -> None:
        self._answer(200, b"OK")

    def do_POST(self) -> None:
        self._answer(500, b'{"code": 500, "error": "ZooKeeper session expired"}')

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_later_failure_says_what_was_created_and_that_rerunning_completes_it(
    own: dict[str, str],
) -> None:
    _start_kafka_only()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SchemaRejectingController)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    env = {
        **own,
        "MODELHEALTH_PINOT_CONTROLLER_PORT": port,
        "MODELHEALTH_PINOT_BROKER_PORT": port,
    }
    try:
        done = _pinot_init(env, "--namespace", NS)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, done.stderr
    assert "HTTP 500" in done.stderr
    assert f"topics modelhealth.{NS}inferences" in done.stderr
    assert "schemas" not in done.stderr.split("created before this failed:")[1].split(";")[0]
    assert "run `modelhealth pinot init` again" in done.stderr and "idempotent" in done.stderr
    assert f"modelhealth.{NS}inferences" in _topics(f"modelhealth.{NS}")


def test_rerunning_init_once_the_services_are_up_completes_the_setup(
    own: dict[str, str],
) -> None:
    up(timeout=300, log=lambda _: None)
    done = _pinot_init(own, "--namespace", NS)
    assert done.returncode == 0, done.stderr
    assert f"pinot tables ready: {NS}inferences" in done.stdout
    result = pinot.query(f"SELECT COUNT(*) FROM {NS}inferences")
    assert result["resultTable"]["rows"] == [[0]]
    # idle consumers poll Kafka for at most 0.5 s, so the server stops them in seconds
    with urllib.request.urlopen(f"{ports.PINOT_CONTROLLER_URL}/tables/{NS}inferences") as resp:
        config = json.load(resp)["REALTIME"]
    (stream,) = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
    assert stream["stream.kafka.fetch.timeout.millis"] == "500"


# -- 2. the Pinot demo keeps to its own namespace ----------------------------------------


def _count(table: str) -> int:
    return int(pinot.query(f"SELECT COUNT(*) FROM {table}")["resultTable"]["rows"][0][0])


def _wait_count(table: str, want: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while (got := _count(table)) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    return got


def test_the_pinot_demo_backend_leaves_the_default_tables_alone(
    own: dict[str, str], tmp_path: Path
) -> None:
    from modelhealth.demo import wiring
    from modelhealth.ingestion import Monitor
    from modelhealth.ingestion.kafka_sink import KafkaSink
    from modelhealth.pinot_schemas.init import init_pinot

    up(timeout=300, log=lambda _: None)
    init_pinot("", tables=["inferences"])  # a user's own table, with one row in it
    user = Monitor(KafkaSink(), {})
    user.log(model="users_model", version="v1", features={}, score=0.5, latency_ms=1.0)
    user.close()
    assert _wait_count("inferences", 1) == 1

    backend = wiring.open_backend("pinot", tmp_path)
    try:
        assert backend.pinot_namespace == wiring.DEMO_NAMESPACE
        assert _count(f"{wiring.DEMO_NAMESPACE}inferences") == 0  # reset, and its own
        demo = Monitor(backend.sink, {})
        demo.log(model="demo_model", version="v1", features={}, score=0.1, latency_ms=1.0)
        demo.flush()
        backend.wait_until_visible(1)
        assert backend.store.models() == ["demo_model"]
    finally:
        backend.close()
    assert _count("inferences") == 1  # the user's row survived the demo's reset
    assert "modelhealth.inferences" in _topics("modelhealth.inferences")


# -- 3. services down is prompt --------------------------------------------------------------


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions ``text`` (our JVMs name the run dir in theirs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and not process.exited(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_services_down_is_prompt_clean_and_leaves_no_jvm(own: dict[str, str]) -> None:
    """The server used to drain queries for 15 s after the last one (init's own readiness
    queries count), then wait out each idle consuming segment's 5 s Kafka poll; the broker
    slept 10 s. ``down`` is measured right after a query, with a grace long enough that
    nothing is killed: a clean stop, not a SIGKILL, must make it prompt."""
    up(timeout=300, log=lambda _: None)
    _pinot_init(own, "--namespace", NS)
    pinot.query(f"SELECT COUNT(*) FROM {NS}inferences")
    run_dir = os.environ["MODELHEALTH_RUN_DIR"]
    assert len(_processes_mentioning(run_dir)) == 5
    lines: list[str] = []
    started = time.monotonic()
    outcomes = down(timeout=120, log=lines.append)
    took = time.monotonic() - started
    assert outcomes == {name: Stopped.TERMINATED for name in outcomes}, lines
    assert len(outcomes) == 5, lines
    assert took < 60, (took, lines)  # ~5 s on an idle 2-core box; 45 s before the fix
    assert _processes_mentioning(run_dir) == []
    assert "killed" not in lines[-1] and lines[-1].startswith("stopped 5 service(s) in")
    server_log = (Path(run_dir) / "logs" / "pinot-server.log").read_text()
    last_stop = server_log[server_log.rindex("Shutting down Pinot server") :]
    assert "shutdown query check" not in last_stop
    assert "Finish shutting down Pinot server" in last_stop


def test_down_kills_what_ignores_sigterm_after_the_grace_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in "pinot-server" (tagged like our JVMs, so ``down`` owns it) that ignores
    SIGTERM, as the server's shutdown hook effectively did for 30 s."""
    monkeypatch.setenv("MODELHEALTH_RUN_DIR", str(tmp_path))
    (tmp_path / "pids").mkdir()
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)\n",
            f"-Dmodelhealth.service={pinot.SERVER}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        (tmp_path / "pids" / f"{pinot.SERVER}.pid").write_text(f"{stubborn.pid}\n")
        lines: list[str] = []
        started = time.monotonic()
        outcomes = down(timeout=2, log=lines.append)
        assert time.monotonic() - started < 60
        assert outcomes == {pinot.SERVER: Stopped.KILLED}
        assert not Path(f"/proc/{stubborn.pid}").exists()  # killed and reaped by down()
        assert f"{pinot.SERVER}: still running 2s after SIGTERM; killed (SIGKILL)" in lines
        assert lines[-1].endswith(f"killed after 2s: {pinot.SERVER}"), lines
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait()


def test_pinot_init_outside_the_services_raises_before_touching_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library call checks too (the demo and benchmarks call ``init_pinot`` directly)."""
    from modelhealth.pinot_schemas.init import init_pinot

    with pytest.MonkeyPatch.context() as mp:
        use_ports(mp, {attr: free_port() for attr in PORT_ENV})
        with pytest.raises(ServicesError) as raised:
            init_pinot("nowhere_")
    message = str(raised.value)
    assert "Kafka (" in message and "Pinot controller (" in message
    assert "Pinot broker (" in message and "\n" not in message
