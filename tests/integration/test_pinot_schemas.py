"""The stored Pinot schemas and table configs agree with ``ingestion/schema.py``.

Pure file checks (no services), so they also run in the unit tier.
"""

from __future__ import annotations

import pytest

from modelhealth.ingestion.kafka_sink import ROWS_FIELD
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import (
    parked_topic,
    render_table,
    schema_json,
    table_json,
    table_name,
    topic_name,
)
from modelhealth.services.pinot import KAFKA_CONSUMER_FACTORY

_KIND = {
    "time": "dateTimeFieldSpecs",
    "dimension": "dimensionFieldSpecs",
    "metric": "metricFieldSpecs",
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_schema_has_every_column_with_its_type_and_role(name: str) -> None:
    schema = schema_json(name)
    assert schema["schemaName"] == name
    for column in TABLES[name].columns:
        specs = {f["name"]: f for f in schema[_KIND[column.role]]}
        assert specs[column.name]["dataType"] == column.type, column.name
    declared = sum(len(schema.get(k, [])) for k in _KIND.values())
    assert declared == len(TABLES[name].columns)
    (ts,) = schema["dateTimeFieldSpecs"]
    assert (ts["name"], ts["format"]) == ("ts", "1:MILLISECONDS:EPOCH")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_config_consumes_the_tables_topic(name: str) -> None:
    config = table_json(name)
    assert config["tableType"] == "REALTIME"
    assert config["segmentsConfig"]["timeColumnName"] == "ts"
    (stream,) = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
    assert stream["stream.kafka.topic.name"] == TABLES[name].topic
    assert stream["stream.kafka.consumer.factory.class.name"] == KAFKA_CONSUMER_FACTORY
    assert stream["stream.kafka.consumer.prop.auto.offset.reset"] == "smallest"


def test_namespaces_prefix_tables_and_topics_and_reject_bad_names() -> None:
    assert table_name("outcomes", "t1_") == "t1_outcomes"
    assert topic_name("outcomes", "t1_") == "modelhealth.t1_outcomes"
    assert parked_topic() == "modelhealth.parked" and parked_topic("t1_") == "modelhealth.t1_parked"
    rendered = render_table("inferences", "t1_", bootstrap="kafka:9092")
    (stream,) = rendered["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
    assert (rendered["tableName"], stream["stream.kafka.broker.list"]) == (
        "t1_inferences",
        "kafka:9092",
    )
    assert table_json("inferences")["tableName"] == "inferences"  # rendering did not mutate
    with pytest.raises(ValueError):
        table_name("inferences", "x'; DROP")
    with pytest.raises(KeyError):
        table_name("no_such_table")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_config_unnests_batched_messages_into_every_column(name: str) -> None:
    """KafkaSink sends ``{"rows": [...]}``; each column is filled from ``rows.<column>``."""
    ingestion = table_json(name)["ingestionConfig"]
    assert ingestion["complexTypeConfig"] == {"fieldsToUnnest": [ROWS_FIELD]}
    transforms = {t["columnName"]: t["transformFunction"] for t in ingestion["transformConfigs"]}
    assert transforms == {c: f'"{ROWS_FIELD}.{c}"' for c in TABLES[name].column_names}
    single = render_table(name, batched=False)["ingestionConfig"]
    assert "complexTypeConfig" not in single and "transformConfigs" not in single
    assert "streamIngestionConfig" in single
