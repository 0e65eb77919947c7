"""Smoke test of the real services: Kafka topic -> JSON events -> Pinot REALTIME table -> SQL.

Proves the whole local pipeline the rest of modelhealth depends on: the Kafka 4.1 broker accepts
JSON, Pinot's Kafka consumer reads it from the earliest offset, and the broker answers SQL.
"""

from __future__ import annotations

import json
import time
import uuid

import kafka
import pytest

from modelhealth.services import (
    ServicesError,
    add_schema,
    add_table,
    delete_schema,
    delete_table,
    ensure_topic,
    query,
    realtime_table_config,
    status,
)
from modelhealth.services.ports import KAFKA_BOOTSTRAP

pytestmark = pytest.mark.integration


def test_every_service_reports_healthy(jvm_services: None) -> None:
    states = status()
    assert set(states) == {"kafka", "zookeeper", "pinot-controller", "pinot-broker", "pinot-server"}
    unhealthy = [name for name, state in states.items() if not state.healthy]
    assert not unhealthy, f"unhealthy services: {unhealthy}"


def test_kafka_json_events_are_queryable_in_pinot(jvm_services: None) -> None:
    name = f"smoke_{uuid.uuid4().hex[:8]}"
    ensure_topic(name, partitions=1)
    producer = kafka.KafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP)
    base_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z; fixed so the test is deterministic
    events = [{"model": "m1", "score": i / 10, "ts": base_ms + i} for i in range(5)]
    for event in events:
        producer.send(name, json.dumps(event).encode())
    producer.flush()
    producer.close()

    add_schema(
        {
            "schemaName": name,
            "dimensionFieldSpecs": [{"name": "model", "dataType": "STRING"}],
            "metricFieldSpecs": [{"name": "score", "dataType": "DOUBLE"}],
            "dateTimeFieldSpecs": [
                {
                    "name": "ts",
                    "dataType": "LONG",
                    "format": "1:MILLISECONDS:EPOCH",
                    "granularity": "1:MILLISECONDS",
                }
            ],
        }
    )
    add_table(realtime_table_config(name, topic=name, time_column="ts"))
    try:
        rows: list[list[object]] = []
        deadline = time.monotonic() + 180  # as test_pipeline_parity: a busy box is slow
        while time.monotonic() < deadline:
            try:
                result = query(f"SELECT model, score, ts FROM {name} ORDER BY ts LIMIT 10")
            except ServicesError:  # BrokerResourceMissingError until the broker sees the table
                time.sleep(0.5)
                continue
            rows = result.get("resultTable", {}).get("rows", [])
            if len(rows) == len(events):
                break
            time.sleep(0.5)
        assert rows == [[e["model"], e["score"], e["ts"]] for e in events]
        total = query(f"SELECT COUNT(*), SUM(score) FROM {name}")["resultTable"]["rows"][0]
        assert total[0] == 5
        assert total[1] == pytest.approx(1.0)
    finally:
        delete_table(name)
        delete_schema(name)
