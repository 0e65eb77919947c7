"""Pinot schemas and REALTIME table configs, one ``<table>.schema.json`` + ``<table>.table.json``
per table of :data:`modelhealth.ingestion.schema.TABLES`.

The JSON files are what a user reads and what ``docker-compose`` ships; this module only
*renders* them for a deployment: an optional ``namespace`` prefix (so tests and benchmarks get
private tables and topics next to the real ones) and the Kafka bootstrap the Pinot server
should consume from. A test checks that the files match ``ingestion/schema.py``.

    >>> table_name("inferences", "t1_"), topic_name("inferences", "t1_")
    ('t1_inferences', 'modelhealth.t1_inferences')
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from modelhealth.ingestion.schema import PARKED_TOPIC, TABLES
from modelhealth.names import check_identifier
from modelhealth.services.decoder import DECODER_CLASS
from modelhealth.services.pinot import KAFKA_JSON_DECODER

HERE = Path(__file__).parent
TOPIC_PREFIX = "modelhealth."
DECODER_KEY = "stream.kafka.decoder.class.name"
#: The decoder property listing ``name:TYPE`` of every schema column (see :func:`decoder_columns`).
COLUMNS_KEY = "stream.kafka.decoder.prop.columns"
#: The decoder property listing the columns a row must carry (see :func:`decoder_required`).
REQUIRED_KEY = "stream.kafka.decoder.prop.required"
_FIELD_KINDS = ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")


def check_namespace(namespace: str) -> str:
    """``""`` or an identifier such as ``"it_3f2a_"``; it prefixes table and topic names."""
    if namespace:
        check_identifier(namespace)
    return namespace


def table_name(name: str, namespace: str = "") -> str:
    """The Pinot table (and schema) name of logical table ``name``."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return check_identifier(check_namespace(namespace) + name)


def topic_name(name: str, namespace: str = "") -> str:
    """The Kafka topic of logical table ``name``: ``Table.topic`` with the namespace inserted."""
    return TOPIC_PREFIX + table_name(name, namespace)


def parked_topic(namespace: str = "") -> str:
    """The dead-letter topic for parked (invalid) events."""
    if not namespace:
        return PARKED_TOPIC
    return TOPIC_PREFIX + check_namespace(namespace) + PARKED_TOPIC.removeprefix(TOPIC_PREFIX)


@cache
def _load(file_name: str) -> dict[str, Any]:
    path = HERE / file_name
    try:
        loaded = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing Pinot config file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return loaded


def schema_json(name: str) -> dict[str, Any]:
    """The stored schema of table ``name`` (a fresh copy)."""
    return copy.deepcopy(_load(f"{name}.schema.json"))


def table_json(name: str) -> dict[str, Any]:
    """The stored REALTIME table config of table ``name`` (a fresh copy)."""
    return copy.deepcopy(_load(f"{name}.table.json"))


def decoder_columns(name: str) -> str:
    """``name:TYPE,...`` for every column of table ``name``'s schema, in schema order.

    modelhealth's decoder checks each value against these types and drops just the row that does
    not fit, before Pinot's own conversion could fail on it (see ``RowsJsonMessageDecoder``).
    """
    schema = _load(f"{name}.schema.json")
    return ",".join(
        f"{field['name']}:{field['dataType']}"
        for kind in _FIELD_KINDS
        for field in schema.get(kind, [])
    )


def decoder_required(name: str) -> str:
    """``name,...`` of the columns a row of table ``name`` must carry, not null: every column,
    as the SDK always writes each one. A row from another producer that lacks one is dropped
    by the decoder rather than stored with Pinot's defaults ("null", 0, the epoch), which
    DuckDB would never hold."""
    return ",".join(c.name for c in TABLES[name].columns)


def render_schema(name: str, namespace: str = "") -> dict[str, Any]:
    schema = schema_json(name)
    schema["schemaName"] = table_name(name, namespace)
    return schema


def render_table(
    name: str, namespace: str = "", bootstrap: str | None = None, *, batched: bool = True
) -> dict[str, Any]:
    """The table config to POST: namespaced names and, if given, another Kafka bootstrap.

    ``batched`` (default) selects modelhealth's decoder (``deploy/jvm/pinot-decoder``, on the
    classpath of the JVMs that ``modelhealth services`` starts): it reads both the
    ``{"rows": [...]}`` messages of :class:`~modelhealth.ingestion.kafka_sink.KafkaSink` and plain
    one-row objects, and drops a malformed message or a wrongly typed row without ever stopping
    consumption. ``batched=False`` selects Pinot's stock JSON decoder instead, for a Pinot that
    lacks our jar: it reads one-row messages only (``KafkaSink(rows_per_message=1)``) and loses a
    row whose value Pinot cannot convert, logging the failure.

    The tables set ``stream.kafka.fetch.timeout.millis`` to 500 (Pinot's default: 5 s): a
    server stops its consuming segments one after another, each waiting out its current poll of
    an idle topic, so with 8 segments a SIGTERM took ~40 s; at 0.5 s it takes ~4 s. A table
    made before keeps its 5 s until ``pinot init`` updates it in place
    (:mod:`modelhealth.pinot_schemas.upgrade`) and its consuming segments start again.
    """
    config = table_json(name)
    if not batched:
        for stream in config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]:
            stream[DECODER_KEY] = KAFKA_JSON_DECODER
            stream.pop(COLUMNS_KEY, None)
            stream.pop(REQUIRED_KEY, None)
    full = table_name(name, namespace)
    config["tableName"] = full
    config["segmentsConfig"]["schemaName"] = full
    for stream in config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]:
        stream["stream.kafka.topic.name"] = topic_name(name, namespace)
        if bootstrap is not None:
            stream["stream.kafka.broker.list"] = bootstrap
    return config


__all__ = [
    "COLUMNS_KEY",
    "DECODER_CLASS",
    "DECODER_KEY",
    "REQUIRED_KEY",
    "check_namespace",
    "decoder_columns",
    "decoder_required",
    "parked_topic",
    "render_schema",
    "render_table",
    "schema_json",
    "table_json",
    "table_name",
    "topic_name",
]
