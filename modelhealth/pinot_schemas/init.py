"""``modelhealth pinot init [--reset]``: create the Kafka topics, Pinot schemas and tables.

Order matters: Pinot reads a topic's partition count when a REALTIME table is created, so every
topic exists first. Re-running is harmless: schemas are upserted (``POST /schemas`` replaces)
and an existing table is left alone. ``--reset`` drops the tables, schemas *and* topics first,
because a table recreated on an old topic would re-consume every old event from offset 0.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterable

from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import (
    check_namespace,
    parked_topic,
    render_schema,
    render_table,
    table_name,
    topic_name,
)
from modelhealth.services import ports
from modelhealth.services.kafka import ensure_topic
from modelhealth.services.paths import ServicesError
from modelhealth.services.pinot import (
    add_schema,
    add_table,
    delete_schema,
    delete_table,
    query,
)

#: Two partitions: one consuming segment per core, and per-model keys still keep order.
DEFAULT_PARTITIONS = 2


def topics(namespace: str = "") -> list[str]:
    """Every topic modelhealth writes: one per table plus the dead-letter topic."""
    return [topic_name(n, namespace) for n in TABLES] + [parked_topic(namespace)]


def init_pinot(
    namespace: str = "",
    *,
    reset: bool = False,
    partitions: int = DEFAULT_PARTITIONS,
    bootstrap: str | None = None,
    tables: Iterable[str] | None = None,
    batched: bool = True,
) -> list[str]:
    """Create topics, schemas and REALTIME tables (idempotent); returns the table names.

    ``bootstrap`` is the Kafka address *the Pinot server* consumes from (default: the local
    services' :data:`~modelhealth.services.ports.KAFKA_BOOTSTRAP`). ``batched=False``: see
    :func:`~modelhealth.pinot_schemas.render_table`.
    """
    check_namespace(namespace)
    names = list(tables or TABLES)
    if reset:
        drop_pinot(namespace, tables=names)
    for topic in [topic_name(n, namespace) for n in names] + [parked_topic(namespace)]:
        _ensure_topic_retrying(topic, partitions)
    created = []
    for name in names:
        add_schema(render_schema(name, namespace))
        try:
            add_table(
                render_table(name, namespace, bootstrap or ports.KAFKA_BOOTSTRAP, batched=batched)
            )
        except ServicesError as exc:
            if "already exist" not in str(exc) and "HTTP 409" not in str(exc):
                raise
        created.append(table_name(name, namespace))
    for full in created:
        _wait_queryable(full)
    return created


def _wait_queryable(table: str, timeout: float = 60.0) -> None:
    """The broker learns of a new table asynchronously (BrokerResourceMissingError until then),
    and then answers without a ``resultTable`` until a server hosts the consuming segment;
    callers that query right after ``init`` must see neither race."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if "resultTable" in query(f"SELECT COUNT(*) FROM {table}"):
                return
            problem = "no server hosts its segments yet"
        except ServicesError as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            raise ServicesError(f"table {table} not queryable after {timeout:.0f}s: {problem}")
        time.sleep(0.2)


def drop_pinot(
    namespace: str = "", *, tables: Iterable[str] | None = None, topics_too: bool = True
) -> None:
    """Delete the tables, schemas and (by default) topics of ``namespace``; missing is fine."""
    names = list(tables or TABLES)
    for name in names:
        full = table_name(name, namespace)
        for drop in (delete_table, delete_schema):
            try:
                drop(full)
            except ServicesError as exc:
                if "HTTP 404" not in str(exc) and "not found" not in str(exc).lower():
                    raise
    if topics_too:
        _delete_topics([topic_name(n, namespace) for n in names] + [parked_topic(namespace)])


def _delete_topics(names: list[str], timeout: float = 60.0) -> None:
    """Delete topics and make sure they *stay* deleted.

    Pinot stops a dropped table's consumers asynchronously; a consumer still polling makes the
    broker auto-create the topic again (``auto.create.topics.enable`` defaults to true). So
    delete, wait, and repeat until the topics are absent on two checks a second apart.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=ports.KAFKA_BOOTSTRAP, request_timeout_ms=10000)
    deadline = time.monotonic() + timeout
    absent_checks = 0
    try:
        while absent_checks < 2:
            present = sorted(set(names) & set(admin.list_topics()))
            if not present:
                absent_checks += 1
            else:
                absent_checks = 0
                if time.monotonic() > deadline:
                    raise ServicesError(f"topics keep coming back after delete: {present}")
                with contextlib.suppress(Exception):  # already being deleted
                    admin.delete_topics(present)
            time.sleep(1.0)
    finally:
        admin.close()


def _ensure_topic_retrying(name: str, partitions: int, timeout: float = 30.0) -> None:
    """Kafka deletes topics asynchronously; a create right after a delete may fail briefly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ensure_topic(name, partitions)
            return
        except Exception as exc:  # TopicAlreadyExists-while-deleting and friends
            if time.monotonic() > deadline:
                raise ServicesError(f"could not create topic {name!r}: {exc}") from exc
            time.sleep(0.5)


def pinot_main(argv: list[str]) -> int:
    """``modelhealth pinot init [--reset] [--namespace NS]`` and ``modelhealth pinot drop``."""
    p = argparse.ArgumentParser(prog="modelhealth pinot", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create topics, schemas and tables (idempotent)")
    i.add_argument("--reset", action="store_true", help="drop tables, schemas, topics first")
    i.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"Kafka partitions per topic (default {DEFAULT_PARTITIONS})",
    )
    i.add_argument("--kafka", help=f"Kafka Pinot consumes from (default {ports.KAFKA_BOOTSTRAP})")
    i.add_argument(
        "--single-row-messages",
        action="store_true",
        help="use Pinot's stock JSON decoder (one row per message; pair with "
        "KafkaSink(rows_per_message=1)) on a Pinot without modelhealth's decoder jar",
    )
    d = sub.add_parser("drop", help="delete tables, schemas and topics")
    for sp in (i, d):
        sp.add_argument("--namespace", default="", help="prefix of table/topic names (tests)")
    args = p.parse_args(argv)
    try:
        if args.cmd == "drop":
            drop_pinot(args.namespace)
            print(f"dropped {len(TABLES)} tables and their topics")
            return 0
        made = init_pinot(
            args.namespace,
            reset=args.reset,
            partitions=args.partitions,
            bootstrap=args.kafka,
            batched=not args.single_row_messages,
        )
    except (ServicesError, ValueError) as exc:
        print(f"modelhealth pinot {args.cmd}: {exc}", file=sys.stderr)
        return 1
    print(f"pinot tables ready: {', '.join(made)} (controller {ports.PINOT_CONTROLLER_URL})")
    return 0
