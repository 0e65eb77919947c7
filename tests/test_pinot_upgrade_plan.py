"""What ``pinot init`` plans for an existing table, without Pinot (``upgrade.plan`` is pure).

The real controller is exercised by ``tests/integration/test_pinot_upgrade_s21.py``.
"""

from __future__ import annotations

from typing import Any

from modelhealth.pinot_schemas import (
    COLUMNS_KEY,
    DECODER_KEY,
    REQUIRED_KEY,
    render_schema,
    render_table,
)
from modelhealth.pinot_schemas.upgrade import plan, stream_map
from modelhealth.services.pinot import KAFKA_JSON_DECODER

TIMEOUT_KEY = "stream.kafka.fetch.timeout.millis"


def _live(stream_edits: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The shipped config as a deployment made it (its own Kafka), with ``stream_edits``
    (None: the key removed)."""
    config = render_table("inferences", "", "kafka.internal:9092")
    stream = stream_map(config)
    assert stream is not None
    for key, value in (stream_edits or {}).items():
        if value is None:
            stream.pop(key, None)
        else:
            stream[key] = value
    return config


def test_a_table_like_the_shipped_one_needs_nothing() -> None:
    found = plan("inferences", "", render_table("inferences"), render_schema("inferences"))
    assert not found.needed and not found.warnings and not found.stream_changes


def test_the_kafka_address_and_topic_are_the_deployments_and_stay() -> None:
    live = _live({"stream.kafka.topic.name": "their.topic"})
    found = plan("inferences", "", live, render_schema("inferences"))
    assert not found.needed and not found.warnings


def test_a_missing_timeout_is_set_and_the_users_keys_are_kept() -> None:
    live = _live({TIMEOUT_KEY: None, "user.key": "mine"})
    found = plan("inferences", "", live, render_schema("inferences"))
    assert found.stream_changes == [(TIMEOUT_KEY, None, "500")]
    assert found.table_config is not None
    merged = stream_map(found.table_config)
    assert merged is not None and merged[TIMEOUT_KEY] == "500" and merged["user.key"] == "mine"
    assert merged["stream.kafka.broker.list"] == "kafka.internal:9092"
    assert TIMEOUT_KEY not in (stream_map(live) or {})  # the live config is not modified
    assert found.describe().startswith(f"updated table inferences: {TIMEOUT_KEY}: unset → 500.")


def test_stream_settings_in_the_legacy_place_are_updated_there() -> None:
    live = render_table("inferences")
    stream = stream_map(live)
    assert stream is not None
    del stream[TIMEOUT_KEY]
    del live["ingestionConfig"]
    live["tableIndexConfig"]["streamConfigs"] = stream
    found = plan("inferences", "", live, render_schema("inferences"))
    assert found.table_config is not None and "ingestionConfig" not in found.table_config
    assert found.table_config["tableIndexConfig"]["streamConfigs"][TIMEOUT_KEY] == "500"


def test_a_stock_decoder_table_keeps_its_decoder_with_a_warning() -> None:
    live = render_table("inferences", batched=False)
    stream = stream_map(live)
    assert stream is not None
    del stream[TIMEOUT_KEY]
    found = plan("inferences", "", live, render_schema("inferences"))
    assert [key for key, _, _ in found.stream_changes] == [TIMEOUT_KEY]  # no decoder props
    (warning,) = found.warnings
    assert warning.startswith("warning: table inferences uses the decoder " + KAFKA_JSON_DECODER)
    assert "--reset" in warning
    quiet = plan("inferences", "", live, render_schema("inferences"), batched=False)
    assert not quiet.warnings and quiet.stream_changes == found.stream_changes


def test_a_new_column_is_added_to_the_live_schema_keeping_the_users() -> None:
    schema = render_schema("inferences")
    schema["dimensionFieldSpecs"] = [
        *(f for f in schema["dimensionFieldSpecs"] if f["name"] != "host"),
        {"name": "region", "dataType": "STRING"},
    ]
    live = _live()
    stream = stream_map(live)
    assert stream is not None
    stream[COLUMNS_KEY] = stream[COLUMNS_KEY].replace("host:STRING,", "")
    found = plan("inferences", "", live, schema)
    assert found.added_columns == ["host (STRING)"] and found.schema is not None
    names = [f["name"] for f in found.schema["dimensionFieldSpecs"]]
    assert "host" in names and "region" in names
    assert [key for key, _, _ in found.stream_changes] == [COLUMNS_KEY]
    assert f"{COLUMNS_KEY}: +host:STRING" in found.describe()


def test_a_changed_column_is_a_warning_and_the_decoder_lists_follow_the_live_schema() -> None:
    schema = render_schema("inferences")
    schema["metricFieldSpecs"][0]["dataType"] = "FLOAT"  # score
    live = _live({REQUIRED_KEY: "ts,model"})
    found = plan("inferences", "", live, schema)
    assert found.schema is None and not found.needed
    (warning,) = found.warnings
    assert "score (live dataType FLOAT, shipped dataType DOUBLE)" in warning
    assert REQUIRED_KEY not in found.describe() and DECODER_KEY not in found.describe()


def test_a_hand_tuned_flush_threshold_stays_and_a_missing_one_is_set() -> None:
    rows, time_key = (
        "realtime.segment.flush.threshold.rows",
        "realtime.segment.flush.threshold.time",
    )
    live = _live({rows: "500000", time_key: None})
    found = plan("inferences", "", live, render_schema("inferences"))
    assert found.stream_changes == [(time_key, None, "1h")]
    merged = stream_map(found.table_config or {})
    assert merged is not None and merged[rows] == "500000" and merged[time_key] == "1h"
