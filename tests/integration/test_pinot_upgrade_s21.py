"""``pinot init`` brings tables made by an older modelhealth up to the shipped config.

It used to leave an existing table alone, so a table created before the shipped configs set
``stream.kafka.fetch.timeout.millis: 500`` kept Pinot's 5 s Kafka poll for ever (and
``services down`` waited 5 s per consuming segment, then SIGKILLed the server) unless the user
dropped its rows with ``--reset``.

Everything runs on one Kafka + Pinot of this module's own (free ports, its own run
directory), started once and always stopped at the end; each test uses its own namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelhealth.pinot_schemas import (
    COLUMNS_KEY,
    REQUIRED_KEY,
    render_schema,
    render_table,
    table_name,
    topic_name,
)
from modelhealth.services import ServicesError, ports
from modelhealth.services.jvm import down, up
from modelhealth.services.kafka import ensure_topic
from modelhealth.services.pinot import add_schema, add_table, query
from tests.integration.conftest import own_services_env

pytestmark = pytest.mark.integration

MODELHEALTH = [sys.executable, "-m", "modelhealth.cli"]
TIMEOUT_KEY = "stream.kafka.fetch.timeout.millis"
USER_KEY = "realtime.segment.flush.threshold.segment.size"
"""A stream setting the shipped config does not name: the user's, which init must keep."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Kafka + Pinot on free ports in this module's run directory; the environment for CLI
    runs. Jars come from ``fetch_all`` (a no-op once cached), as in ``test_services_s20``."""
    with own_services_env(tmp_path_factory, "s21_run") as env:
        try:
            up(timeout=300, log=lambda _: None)
            yield env
        finally:
            down(timeout=60, log=lambda _: None)


def _get(path: str) -> Any:
    with urllib.request.urlopen(f"{ports.PINOT_CONTROLLER_URL}{path}", timeout=30) as resp:
        return json.load(resp)


def _live_table(table: str) -> dict[str, Any]:
    return _get(f"/tables/{urllib.parse.quote(table)}?type=realtime")["REALTIME"]


def _stream(config: dict[str, Any]) -> dict[str, str]:
    (stream,) = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
    return stream


def _columns(schema: dict[str, Any]) -> dict[str, str]:
    kinds = ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")
    return {f["name"]: f["dataType"] for kind in kinds for f in schema.get(kind, [])}


def _make_old_table(
    name: str,
    namespace: str,
    *,
    without_column: str | None = None,
    schema_edit: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Table ``name`` as an older modelhealth (and then its user) left it: no Kafka poll
    timeout (Pinot's 5 s), the user's own stream setting and table metadata, optionally a
    column the shipped schema has missing from the schema and the decoder's lists."""
    ensure_topic(topic_name(name, namespace), 2)
    schema = render_schema(name, namespace)
    config = render_table(name, namespace, ports.KAFKA_BOOTSTRAP)
    stream = _stream(config)
    del stream[TIMEOUT_KEY]
    stream[USER_KEY] = "150M"
    config["metadata"] = {"customConfigs": {"owner": "ml-team"}}
    if without_column:
        for kind in ("dimensionFieldSpecs", "metricFieldSpecs"):
            schema[kind] = [f for f in schema[kind] if f["name"] != without_column]
        columns = stream[COLUMNS_KEY].split(",")
        stream[COLUMNS_KEY] = ",".join(c for c in columns if c.split(":")[0] != without_column)
        required = stream[REQUIRED_KEY].split(",")
        stream[REQUIRED_KEY] = ",".join(c for c in required if c != without_column)
    if schema_edit:
        schema_edit(schema)
    add_schema(schema)
    add_table(config)


def _pinot_init(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELHEALTH, "pinot", "init", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def _produce_row(topic: str, host: str) -> None:
    from kafka import KafkaProducer

    row = {
        "ts": int(time.time() * 1000), "model": "m", "version": "v1", "host": host,
        "request_id": "r1", "score": 0.5, "latency_ms": 1.0, "is_error": 0,
    }  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=ports.KAFKA_BOOTSTRAP)
    try:
        producer.send(topic, json.dumps(row).encode()).get(timeout=30)
    finally:
        producer.close()


def _eventually(sql: str, want: list[list[Any]], timeout: float = 60.0) -> list[list[Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = query(sql).get("resultTable", {}).get("rows")
        except ServicesError as exc:  # e.g. the column is not there yet
            got = [[str(exc)]]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_init_updates_an_old_tables_stream_settings_keeps_the_users_and_is_idempotent(
    stack: dict[str, str],
) -> None:
    ns = "s21_"
    table = table_name("inferences", ns)
    _make_old_table("inferences", ns)

    done = _pinot_init(stack, "--namespace", ns)

    assert done.returncode == 0, done.stderr
    updates = [line for line in done.stdout.splitlines() if line.startswith("updated table")]
    assert len(updates) == 1, done.stdout  # the other three tables were created, not updated
    (line,) = updates
    assert line.startswith(f"updated table {table}: {TIMEOUT_KEY}: unset → 500. ")
    assert "restart the Pinot server" in line and "services down --timeout 60" in line
    assert "roll-over" in line and USER_KEY not in line
    assert "warning" not in done.stderr

    config = _live_table(table)
    stream = _stream(config)
    assert stream[TIMEOUT_KEY] == "500"
    assert stream[USER_KEY] == "150M"  # the user's setting survived
    assert config["metadata"]["customConfigs"] == {"owner": "ml-team"}
    assert stream["stream.kafka.broker.list"] == ports.KAFKA_BOOTSTRAP

    again = _pinot_init(stack, "--namespace", ns)
    assert again.returncode == 0, again.stderr
    assert "updated" not in again.stdout and "warning" not in again.stderr, again.stdout
    assert again.stdout.startswith(f"pinot tables ready: {table}")
    assert _live_table(table) == config


def test_init_adds_a_shipped_column_in_place_and_keeps_the_users_column(
    stack: dict[str, str],
) -> None:
    """A newer modelhealth adds a column: init adds it to the live schema and the decoder's
    lists, keeps a column the user added (init used to POST the shipped schema, which Pinot
    refused with HTTP 400 as it drops that column), and the stored row keeps its data."""
    ns = "s21c_"
    table = table_name("inferences", ns)
    _make_old_table(
        "inferences",
        ns,
        without_column="host",
        schema_edit=lambda s: s["dimensionFieldSpecs"].append(
            {"name": "region", "dataType": "STRING"}  # the user's own column
        ),
    )
    _produce_row(topic_name("inferences", ns), host="h1")
    assert _eventually(f"SELECT COUNT(*) FROM {table}", [[1]]) == [[1]]

    done = _pinot_init(stack, "--namespace", ns)

    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("updated table")]
    assert f"{TIMEOUT_KEY}: unset → 500" in line
    assert f"{COLUMNS_KEY}: +host:STRING" in line and f"{REQUIRED_KEY}: +host" in line
    assert "added column(s) host (STRING)" in line and "region" not in line
    stream = _stream(_live_table(table))
    assert "host:STRING" in stream[COLUMNS_KEY].split(",")
    assert "host" in stream[REQUIRED_KEY].split(",")
    schema_columns = _columns(_get(f"/schemas/{table}"))
    assert schema_columns["host"] == "STRING" and schema_columns["region"] == "STRING"
    # the stored row gained the column with its default (the consuming segment keeps the
    # decoder and schema it started with until it starts again), and kept its data
    grouped = f"SELECT host, COUNT(*) FROM {table} GROUP BY host"
    assert _eventually(grouped, [["null", 1]]) == [["null", 1]]

    again = _pinot_init(stack, "--namespace", ns)
    assert again.returncode == 0 and "updated" not in again.stdout, again.stdout


def test_a_column_pinot_cannot_change_in_place_is_a_warning_and_the_rest_still_updates(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``score`` stored as FLOAT where the shipped schema says DOUBLE: Pinot refuses that
    change on a live table (init used to fail on it: HTTP 400, the table not updated)."""
    from modelhealth.pinot_schemas.init import pinot_main

    ns = "s21w_"
    table = table_name("inferences", ns)

    def float_score(schema: dict[str, Any]) -> None:
        for spec in schema["metricFieldSpecs"]:
            if spec["name"] == "score":
                spec["dataType"] = "FLOAT"

    _make_old_table("inferences", ns, schema_edit=float_score)
    before = _stream(_live_table(table))

    assert pinot_main(["init", "--namespace", ns]) == 0
    out, err = capsys.readouterr()

    lines = out.splitlines() + err.splitlines()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, lines
    assert f"schema {table}" in warnings[0]
    assert "score (live dataType FLOAT, shipped dataType DOUBLE)" in warnings[0]
    assert "pinot init --reset" in warnings[0] and "dropping the table's rows" in warnings[0]
    (update,) = [line for line in lines if line.startswith("updated table")]
    assert f"{TIMEOUT_KEY}: unset → 500" in update and COLUMNS_KEY not in update
    stream = _stream(_live_table(table))
    assert stream[TIMEOUT_KEY] == "500" and stream[USER_KEY] == "150M"
    assert stream[COLUMNS_KEY] == before[COLUMNS_KEY]  # follows the live schema, not ours
    assert _columns(_get(f"/schemas/{table}"))["score"] == "FLOAT"


def test_a_failed_update_says_which_tables_were_updated_and_which_not_and_exits_1(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The controller rejecting one table's update (simulated: nothing here makes Pinot 0.11
    refuse a PUT of a valid config) must not pass silently, nor stop the other tables'."""
    from modelhealth.pinot_schemas import upgrade
    from modelhealth.pinot_schemas.init import pinot_main

    ns = "s21f_"
    for name in ("inferences", "outcomes"):
        _make_old_table(name, ns)
    real_update = upgrade.update_table

    def rejecting(config: dict[str, Any]) -> Any:
        if config["tableName"].startswith(f"{ns}outcomes"):
            raise ServicesError(f"PUT /tables/{ns}outcomes -> HTTP 500: ZooKeeper went away")
        return real_update(config)

    monkeypatch.setattr(upgrade, "update_table", rejecting)
    assert pinot_main(["init", "--namespace", ns]) == 1
    out, err = capsys.readouterr()
    assert f"updated table {ns}inferences: {TIMEOUT_KEY}: unset → 500" in out
    assert "could not update 1 existing table(s) to the shipped config" in err
    assert f"{ns}outcomes (PUT /tables/{ns}outcomes -> HTTP 500" in err
    assert f"updated: tables {ns}inferences" in err and "run `modelhealth pinot init` again" in err
    assert _stream(_live_table(f"{ns}inferences"))[TIMEOUT_KEY] == "500"
    assert TIMEOUT_KEY not in _stream(_live_table(f"{ns}outcomes"))

    monkeypatch.setattr(upgrade, "update_table", real_update)
    assert pinot_main(["init", "--namespace", ns]) == 0
    out, err = capsys.readouterr()
    assert f"updated table {ns}outcomes: {TIMEOUT_KEY}: unset → 500" in out
    assert f"updated table {ns}inferences" not in out and "warning" not in err
    assert _stream(_live_table(f"{ns}outcomes"))[TIMEOUT_KEY] == "500"
