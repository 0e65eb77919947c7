"""What the Pinot store's fleet queries send to a broker, against a real HTTP server on
loopback that records each request and answers as a Pinot broker does (no JVMs).

The integration test ``tests/integration/test_pinot_fleet_s26f.py`` checks the answers
against DuckDB; this one pins what must hold for any broker: names are checked before any
request, a fleet is one statement naming its models in one IN list with ``model`` leading
the grouping, and its answer is typed as DuckDB's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelhealth.errors import InvalidName

pytest.importorskip("pinotdb")

HOUR_MS = 3_600_000
LATENCY = ["model", "count", "errors", "mean", "p50", "p75", "p90", "p99"]


class Broker:
    """A loopback broker: keeps every SQL statement it receives, answers ``answer``."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.answer: dict[str, object] = {
            "resultTable": {
                "dataSchema": {"columnNames": ["model"], "columnDataTypes": ["STRING"]},
                "rows": [],
            },
            "exceptions": [],
            "numServersQueried": 1,
            "numServersResponded": 1,
        }


@pytest.fixture
def broker() -> Iterator[tuple[str, Broker]]:
    state = Broker()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state.sql.append(body["sql"])
            out = json.dumps(state.answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def _store(url: str):  # type: ignore[no-untyped-def]
    from modelhealth.store.pinot import PinotStore

    return PinotStore(url, timeout=5)


def test_a_name_that_would_need_escaping_is_refused_before_any_request(broker) -> None:
    """Model lists come from configs: a quote must never reach the IN list, escaped or not."""
    url, state = broker
    store = _store(url)
    for ask in (
        "fleet_latency",
        "fleet_score",
        "fleet_feature_summary",
        "fleet_feature_histograms",
    ):
        with pytest.raises(InvalidName):
            getattr(store, ask)(["fraud", "x') OR ('1'='1"], 0, HOUR_MS)
        with pytest.raises(InvalidName):
            getattr(store, ask)(["fraud"], 0, HOUR_MS, version="v1' OR 'a'='a")
        with pytest.raises(ValueError, match="empty window"):
            getattr(store, ask)(["fraud"], HOUR_MS, 0)
    assert state.sql == []


def test_a_fleet_is_one_statement_grouped_by_model_first(broker) -> None:
    """One query for any number of models is the point of the fleet queries; ``model`` must
    lead GROUP BY and ORDER BY so the rows come as DuckDB's, and LIMIT must be there (Pinot's
    default is 10 rows)."""
    url, state = broker
    store = _store(url)
    store.fleet_feature_histograms(["fraud", "team-a.fraud_2"], 0, HOUR_MS, step_ms=60_000)
    assert len(state.sql) == 1
    sql = state.sql[0]
    assert "model IN ('fraud', 'team-a.fraud_2')" in sql
    assert "GROUP BY model, ts - MOD(ts, 60000), feature" in sql
    assert "ORDER BY model, ts - MOD(ts, 60000), feature" in sql
    assert sql.endswith("LIMIT 10000000")
    state.answer["resultTable"] = {
        "dataSchema": {"columnNames": LATENCY, "columnDataTypes": ["STRING"] + ["DOUBLE"] * 7},
        "rows": [],
    }
    empty = store.fleet_latency([], 0, HOUR_MS)  # Pinot refuses "IN ()": no model is ""
    assert "model IN ('')" in state.sql[1]
    assert list(empty.columns) == LATENCY and len(empty) == 0


def test_models_without_rows_keep_a_count_0_row_typed_as_duckdbs(broker) -> None:
    """``latency`` answers one row for a model without data, so a fleet answer must too:
    the rules read a missing row as "no instance", not as count 0 (``count below`` rules)."""
    url, state = broker
    columns = LATENCY
    state.answer["resultTable"] = {
        "dataSchema": {"columnNames": columns, "columnDataTypes": ["STRING"] + ["DOUBLE"] * 7},
        "rows": [["fraud", 4.0, 1.0, 2.5, 2.0, 3.0, 4.0, 4.0]],
    }
    df = _store(url).fleet_latency(["search", "fraud"], 0, HOUR_MS)
    assert list(df.columns) == columns
    assert list(df["model"]) == ["fraud", "search"]
    assert list(df["count"]) == [4, 0] and list(df["errors"]) == [1, 0]
    assert df["count"].dtype == "int64" and df["errors"].dtype == "int64"
    assert df.loc[1, ["mean", "p50", "p99"]].isna().all()
    assert df.loc[0, "p99"] == 4.0
