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

HERE = Path(__file__).parent
TOPIC_PREFIX = "modelhealth."


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


def render_schema(name: str, namespace: str = "") -> dict[str, Any]:
    schema = schema_json(name)
    schema["schemaName"] = table_name(name, namespace)
    return schema


def render_table(
    name: str, namespace: str = "", bootstrap: str | None = None, *, batched: bool = True
) -> dict[str, Any]:
    """The table config to POST: namespaced names and, if given, another Kafka bootstrap.

    ``batched`` (default) keeps the unnesting of ``{"rows": [...]}`` messages that
    :class:`~modelhealth.ingestion.kafka_sink.KafkaSink` sends. ``batched=False`` drops it, for
    topics that also carry one-row messages from other producers: Pinot 0.11 stops consuming a
    partition when a *one-row* message with a wrongly typed value meets the unnest config (its
    error log recurses through a self-referencing record), while without it such a message
    costs one row. Pair it with ``KafkaSink(rows_per_message=1)``.
    """
    config = table_json(name)
    if not batched:
        config["ingestionConfig"].pop("complexTypeConfig", None)
        config["ingestionConfig"].pop("transformConfigs", None)
    full = table_name(name, namespace)
    config["tableName"] = full
    config["segmentsConfig"]["schemaName"] = full
    for stream in config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]:
        stream["stream.kafka.topic.name"] = topic_name(name, namespace)
        if bootstrap is not None:
            stream["stream.kafka.broker.list"] = bootstrap
    return config


__all__ = [
    "check_namespace",
    "parked_topic",
    "render_schema",
    "render_table",
    "schema_json",
    "table_json",
    "table_name",
    "topic_name",
]
