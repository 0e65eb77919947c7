"""``rules run`` as a daemon: it picks up edited rule files without a restart (keeping a
broken file's previous rules), reloads on SIGHUP, and serves its own metrics and probes.

Before, an owner's edit took effect only after someone restarted the scheduler, and nothing
outside could tell that the scheduler had died or stopped delivering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.rules.config import load_rules
from modelhealth.rules.reload import reload_rules
from modelhealth.rules.selfmetrics import EngineMetrics, parse_listen
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import free_port

QUIET = """
model: fraud
rules:
  - name: p99-latency
    metric: latency.p99
    window: 30m
    detector: {type: threshold, above: 100000}
"""
LOUD = QUIET.replace("above: 100000", "above: 1")
BROKEN = QUIET.replace("window: 30m", "window: 30 minutes please")
FIRING = 'modelhealth_alerts{severity="warning",state="firing"}'
RELOADED = 'modelhealth_rules_config_reloads_total{config="rules",result="success"}'
PARTIAL = 'modelhealth_rules_config_reloads_total{config="rules",result="partial"}'


def _scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _value(text: str, sample: str) -> float:
    """The value of one sample line (``name`` or ``name{labels}``) of a scrape, 0 if absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _metric(port: int, sample: str) -> float:
    return _value(_scrape(port)[1], sample)


def _until(check: Callable[[], bool], what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live_store(tmp_path: Path, fleet_refs) -> Path:
    """Two hours of the demo's fraud traffic ending now (the daemon ticks on the wall clock)."""
    return write_live_store(tmp_path / "live.duckdb", fleet_refs)


def write_live_store(db: Path, fleet_refs: Any) -> Path:
    """``db`` with two hours of the demo's fraud traffic ending now."""
    store = DuckDBStore(db)
    now = datetime.now(UTC)
    monitor = Monitor(DuckDBSink(store), fleet_refs, clock=FakeClock(now))
    backfill(monitor, {"fraud": fleet()["fraud"]}, now, days=2 / 24)
    store.close()
    return db


@contextmanager
def _rules_run(
    tmp_path: Path, db: Path, rules: Path, *extra: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[Any, int]]:
    """`rules run` on ``db`` with ``--listen`` on a free port, after its first tick; stopped
    with SIGINT (as Ctrl-C), killed if it will not stop. ``env`` is added to its
    environment."""
    port = free_port()
    cmd = [sys.executable, "-m", "modelhealth.cli", "rules", "run", "--db", str(db),
           "--state", str(tmp_path / "state" / "alerts.json"), "--listen", f"127.0.0.1:{port}",
           *extra, str(rules)]  # fmt: skip
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    try:
        _until(lambda: _value(_scrape_or_empty(port), "modelhealth_rules_ticks_total") >= 1,
               "the first tick")  # fmt: skip
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


@pytest.fixture
def daemon(tmp_path: Path, live_store: Path) -> Iterator[tuple[Any, int, Path]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(QUIET)
    with _rules_run(tmp_path, live_store, rules, "--interval", "2s") as (proc, port):
        yield proc, port, rules


def _scrape_or_empty(port: int) -> str:
    try:
        return _scrape(port)[1]
    except OSError:
        return ""  # not listening yet


def test_an_edited_rule_file_takes_effect_without_a_restart(daemon, tmp_path: Path) -> None:
    proc, port, rules = daemon
    assert _metric(port, "modelhealth_rules_loaded") == 1 and _metric(port, FIRING) == 0
    assert _scrape(port, "/-/ready")[0] == 200 and _scrape(port, "/-/healthy")[0] == 200

    (rules / "fraud.yaml").write_text(LOUD)  # the owner lowers the threshold
    _until(lambda: _metric(port, FIRING) == 1, "the edited rule to fire")
    assert _metric(port, RELOADED) == 1

    (rules / "fraud.yaml").write_text(BROKEN)  # a typo: the rule it had stays in force
    _until(lambda: _metric(port, PARTIAL) == 1, "the broken file's reload")
    ticks = _metric(port, "modelhealth_rules_ticks_total")
    _until(lambda: _metric(port, "modelhealth_rules_ticks_total") > ticks, "a tick")
    text = _scrape(port)[1]
    assert _value(text, "modelhealth_rules_loaded") == 1
    assert _value(text, 'modelhealth_rules_config_errors{config="rules"}') == 1
    assert _value(text, FIRING) == 1  # the kept rule still holds it: not resolved

    proc.send_signal(signal.SIGHUP)  # Prometheus' convention: reload now
    _until(lambda: _metric(port, PARTIAL) == 2, "the SIGHUP reload")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    log = (tmp_path / "run.log").read_text()
    assert "fraud.yaml has errors: its previous rules stay in force" in log
    assert "window" in log  # the error names the field


def test_reload_keeps_a_broken_files_rules_and_takes_the_others_edits(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(QUIET)
    (tmp_path / "b.yaml").write_text(QUIET.replace("fraud", "ranker"))
    before = load_rules([tmp_path])
    (tmp_path / "a.yaml").write_text(BROKEN)
    (tmp_path / "b.yaml").write_text(LOUD.replace("fraud", "ranker"))
    after = reload_rules([tmp_path], before)
    by_model = {r.model: r for r in after.rules}
    assert by_model["fraud"] is next(r for r in before.rules if r.model == "fraud")
    old_ranker = next(r for r in before.rules if r.model == "ranker")
    assert by_model["ranker"].rule_id != old_ranker.rule_id
    assert [i.pos.file for i in after.issues] == [str(tmp_path / "a.yaml")]


def test_metrics_are_valid_prometheus_text() -> None:
    metrics = EngineMetrics(FakeClock(datetime(2026, 11, 26, tzinfo=UTC)))
    metrics.outbox = lambda: {('pager "x"', "failed"): 2}
    text = metrics.render()
    assert text.endswith("\n")
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))  # each family declared once
    assert 'modelhealth_notifications{receiver="pager \\"x\\"",status="failed"} 2' in text
    assert _value(text, "modelhealth_rules_start_time_seconds") == 1795651200
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("9464")
    assert parse_listen(":9464") == ("127.0.0.1", 9464)


class _Receiver:
    """A webhook receiver on loopback recording when each POST arrived; ``hang`` makes it
    accept and never answer (the client's timeout ends each attempt)."""

    def __init__(self, hang: bool = False) -> None:
        import http.server
        import threading

        self.arrivals: list[float] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hang:
                    time.sleep(30)
                    return
                outer.arrivals.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_delivery_runs_beside_the_ticks_so_a_hung_receiver_stalls_nothing(
    tmp_path: Path, live_store: Path
) -> None:
    """Delivery ran inside each tick (twice): a receiver that never answered cost every
    pending notification its timeout per tick, and group_wait came due only at the next
    tick (a 1 s group_wait paged a minute late)."""
    hung, fine = _Receiver(hang=True), _Receiver()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(LOUD)
    routing = tmp_path / "routing.yaml"
    routing.write_text(f"""
route:
  receiver: hung
  group_by: [alertname]
  group_wait: 1s
  routes:
    - {{matchers: [severity=warning], receiver: hung, continue: true}}
    - {{matchers: [severity=warning], receiver: fine}}
receivers:
  - {{name: hung, webhook: {{url: "{hung.url}", timeout: 20}}}}
  - {{name: fine, webhook: {{url: "{fine.url}"}}}}
""")
    run = _rules_run(tmp_path, live_store, rules, "--interval", "30s", "--routing", str(routing))
    try:
        with run as (_, port):
            ticked = time.monotonic()
            _until(lambda: bool(fine.arrivals), "the page to the answering receiver", timeout=25)
            assert fine.arrivals[0] - ticked < 25  # group_wait 1s, not the next 30 s tick
            took = _metric(port, "modelhealth_rules_last_tick_duration_seconds")
            assert took < 15, took  # the tick did not wait out the hung receiver's 20 s timeout
    finally:
        hung.close()
        fine.close()
