"""A seeded DuckDB *file* plus rules state, as the dashboard reads them in production.

The session-wide ``seeded_store`` is in-memory; the dashboard (AppTest and the real
``streamlit run`` subprocess) needs a file, and the Alerts page needs a history the rules
engine really wrote, so this fixture backfills one day and replays the example rules.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.forecaster import ForecastParams
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.anomaly.train import train
from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules"
REFS = ROOT / "examples" / "references"


def unescaped(text: str) -> str:
    """A message as the page renders it: markdown escapes (``dashboard/text.py``) removed."""
    return re.sub(r"\\(.)", r"\1", text)


@dataclass(frozen=True)
class Deployment:
    db: Path
    rules: Path
    state_dir: Path

    def argv(self) -> list[str]:
        return [
            "--db", str(self.db), "--rules", str(self.rules), "--state-dir", str(self.state_dir),
            "--now", T0.isoformat(),
        ]  # fmt: skip


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    root = tmp_path_factory.mktemp("dashboard")
    db, state_dir = root / "fleet.duckdb", root / "state"
    refs = {p.stem: ModelReference.load(p) for p in REFS.glob("*.json")}
    store = DuckDBStore(db)
    monitor = Monitor(DuckDBSink(store), refs, clock=FakeClock(T0))
    backfill(monitor, fleet(), T0, days=1.0)
    monitor.flush()
    rules = load_rules([RULES])
    assert rules.ok, rules.issues
    ev = Evaluator(rules.rules, store, state=AlertStateStore(state_dir / "alerts.json"))
    at = T0 - timedelta(hours=7)
    while at <= T0:
        ev.tick(at)
        at += timedelta(minutes=5)
    store.close()
    return Deployment(db, RULES, state_dir)


def write_learned_rules(folder: Path, model_dir: Path) -> Path:
    """A config with one learned rule: fraud's p99 latency per version."""
    path = folder / "fraud-learned.yaml"
    path.write_text(
        "model: fraud\nrules:\n  - name: p99-learned\n    metric: latency.p99\n"
        "    window: 5m\n    group_by: [version]\n"
        f"    detector: {{type: learned, model: {model_dir}}}\n    severity: warning\n"
        "  - name: p99-static\n    metric: latency.p99\n    window: 5m\n"
        "    detector: {type: threshold, above: 100}\n"
    )
    return path


@pytest.fixture
def app(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard on the shared deployment, first run done (the Fleet page)."""
    monkeypatch.setattr(sys, "argv", ["app.py", *deployment.argv()])
    at = AppTest.from_file(str(ROOT / "modelhealth" / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="session")
def learned_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train(
        generate_fleet(models=2, points=700, seed=3),
        rows_per_series=800,
        copies=3,
        params=ForecastParams(num_trees=60),
    )
    model.post = PostProcess(threshold=0.5, novelty=0)  # known filters, as the anomaly tests
    return model.save(tmp_path_factory.mktemp("learned") / "model")


ONE_MODEL = {
    "resultTable": {
        "dataSchema": {"columnNames": ["model"], "columnDataTypes": ["STRING"]},
        "rows": [["fraud"]],
    },
    "exceptions": [],
    "numServersQueried": 1,
    "numServersResponded": 1,
}
"""A broker's answer to the sidebar's model list: one model, ``fraud``."""


@contextmanager
def stand_in_broker(answer: Callable[[str], dict[str, Any]]) -> Iterator[str]:
    """A Pinot broker on a free loopback port that answers each query's SQL with
    ``answer(sql)`` (a broker response body), for tests of what the app sends and of how it
    takes a broker's error answers; yields its URL."""

    class Broker(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sql = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["sql"]
            data = json.dumps(answer(sql)).encode()
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
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
