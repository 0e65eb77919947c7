"""Local Kafka (KRaft) and Apache Pinot JVMs for development, tests and the demo.

Jars come from Maven Central through ``deploy/jvm/*/pom.xml``; processes are started and stopped
by pid by :mod:`modelhealth.services.jvm`. Host/port constants live in
:mod:`modelhealth.services.ports`.
"""

from modelhealth.services.decoder import DECODER_CLASS, build_decoder, decoder_jar
from modelhealth.services.fetch import fetch_all, fetch_component, is_fetched
from modelhealth.services.jvm import ServiceStatus, down, is_up, main, status, up
from modelhealth.services.kafka import ensure_topic
from modelhealth.services.paths import ServicesError
from modelhealth.services.pinot import (
    add_schema,
    add_table,
    delete_schema,
    delete_table,
    query,
    realtime_table_config,
)

__all__ = [
    "DECODER_CLASS",
    "ServiceStatus",
    "ServicesError",
    "add_schema",
    "add_table",
    "build_decoder",
    "decoder_jar",
    "delete_schema",
    "delete_table",
    "down",
    "ensure_topic",
    "fetch_all",
    "fetch_component",
    "is_fetched",
    "is_up",
    "main",
    "query",
    "realtime_table_config",
    "status",
    "up",
]
