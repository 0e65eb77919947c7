"""The stored Pinot schemas and table configs agree with ``ingestion/schema.py``.

Pure file checks (no services), so they also run in the unit tier.
"""

from __future__ import annotations

import pytest

from modelhealth.ingestion.kafka_sink import ROWS_FIELD
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import (
    COLUMNS_KEY,
    DECODER_CLASS,
    DECODER_KEY,
    REQUIRED_KEY,
    decoder_columns,
    decoder_required,
    parked_topic,
    render_table,
    schema_json,
    table_json,
    table_name,
    topic_name,
)
from modelhealth.services.decoder import source_dir
from modelhealth.services.pinot import KAFKA_CONSUMER_FACTORY, KAFKA_JSON_DECODER

DECODER_SOURCE = source_dir() / "src" / "main" / "java" / "io" / "modelhealth" / "pinot"

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
def test_table_config_names_our_decoder_with_every_column_type(name: str) -> None:
    """The decoder (not Pinot's unnest transforms) splits ``{"rows": [...]}``; it is told each
    column's type so it can drop a wrongly typed row before Pinot's conversion fails on it."""
    ingestion = table_json(name)["ingestionConfig"]
    assert "complexTypeConfig" not in ingestion and "transformConfigs" not in ingestion
    (stream,) = ingestion["streamIngestionConfig"]["streamConfigMaps"]
    assert stream[DECODER_KEY] == DECODER_CLASS
    assert stream[COLUMNS_KEY] == decoder_columns(name)  # the stored file matches the schema
    declared = dict(item.split(":") for item in stream[COLUMNS_KEY].split(","))
    assert declared == {c.name: c.type for c in TABLES[name].columns}
    (single,) = render_table(name, batched=False)["ingestionConfig"]["streamIngestionConfig"][
        "streamConfigMaps"
    ]
    assert single[DECODER_KEY] == KAFKA_JSON_DECODER and COLUMNS_KEY not in single
    # every column is required (the SDK writes each one), and the stock decoder has no such prop
    assert stream[REQUIRED_KEY] == decoder_required(name)
    assert set(stream[REQUIRED_KEY].split(",")) == set(declared) and REQUIRED_KEY not in single


def test_the_decoder_splits_the_field_the_sink_writes() -> None:
    source = (DECODER_SOURCE / "RowsJsonMessageDecoder.java").read_text()
    assert f'DEFAULT_ROWS_FIELD = "{ROWS_FIELD}";' in source
    assert f"public class {DECODER_CLASS.rsplit('.', 1)[1]} " in source
