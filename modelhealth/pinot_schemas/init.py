"""``modelhealth pinot init [--reset]``: create the Kafka topics, Pinot schemas and tables.

Order matters: Pinot reads a topic's partition count when a REALTIME table is created, so every
topic exists first. Before any of it, every service ``init`` needs (Kafka, the Pinot controller
and broker) must answer, so an unreachable one leaves nothing half made. Re-running is
harmless: a missing schema or table is created, so a run that failed half-way is completed by
the next, and an existing table is brought up to the shipped config in place, keeping its rows
and the settings the user added (:mod:`modelhealth.pinot_schemas.upgrade`: stream settings,
added columns; one line per table changed, a warning for what cannot change in place).
``--reset`` drops the tables, schemas *and* topics first, because a table recreated on an old
topic would re-consume every old event from offset 0.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from modelhealth.cliargs import positive_int
from modelhealth.ingestion.schema import TABLES
from modelhealth.pinot_schemas import (
    check_namespace,
    parked_topic,
    render_schema,
    render_table,
    table_name,
    topic_name,
    upgrade,
)
from modelhealth.services import ports
from modelhealth.services.kafka import ensure_topic
from modelhealth.services.kafka import healthy as kafka_healthy
from modelhealth.services.paths import ServicesError
from modelhealth.services.pinot import (
    add_schema,
    add_table,
    delete_schema,
    delete_table,
    get_schema,
    query,
    table_config,
)
from modelhealth.services.process import http_ok

#: Two partitions: one consuming segment per core, and per-model keys still keep order.
DEFAULT_PARTITIONS = 2


def topics(namespace: str = "") -> list[str]:
    """Every topic modelhealth writes: one per table plus the dead-letter topic."""
    return [topic_name(n, namespace) for n in TABLES] + [parked_topic(namespace)]


class InitIncomplete(ServicesError):
    """``init_pinot`` failed after creating something; the message says what and how to finish."""


def _say(line: str) -> None:
    """``init_pinot``'s default ``log``: warnings to stderr, the rest to stdout."""
    print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout, flush=True)


def unreachable_services() -> list[str]:
    """What ``init_pinot`` needs that does not answer now, each as "name (address)".

    Kafka (the topics), the controller (schemas and tables) and the broker (``init`` waits
    until it can query every new table). Checked before anything is created: a controller
    that was down used to fail ``init`` after it had made the topics, half a setup."""
    probes = (
        (f"Kafka ({ports.KAFKA_BOOTSTRAP})", kafka_healthy),
        (
            f"Pinot controller ({ports.PINOT_CONTROLLER_URL})",
            lambda: http_ok(f"{ports.PINOT_CONTROLLER_URL}/health"),
        ),
        (
            f"Pinot broker ({ports.PINOT_BROKER_URL})",
            lambda: http_ok(f"{ports.PINOT_BROKER_URL}/health"),
        ),
    )
    return [name for name, answers in probes if not answers()]


def check_services() -> None:
    """Raise one line naming every service ``init_pinot`` needs that is unreachable."""
    down = unreachable_services()
    if down:
        raise ServicesError(
            f"not reachable: {', '.join(down)}; start the services with "
            "`modelhealth services up` (nothing was created)"
        )


def init_pinot(
    namespace: str = "",
    *,
    reset: bool = False,
    partitions: int | None = None,
    bootstrap: str | None = None,
    tables: Iterable[str] | None = None,
    batched: bool = True,
    log: Callable[[str], None] = _say,
) -> list[str]:
    """Create topics, schemas and REALTIME tables (idempotent); returns the table names.

    ``partitions`` (default :data:`DEFAULT_PARTITIONS`) applies to the topics it creates; when
    given, an existing topic with another count is a ``warning:`` line (``reset`` recreates it).

    ``bootstrap`` is the Kafka address *the Pinot server* consumes from (default: the local
    services' :data:`~modelhealth.services.ports.KAFKA_BOOTSTRAP`). ``batched=False``: see
    :func:`~modelhealth.pinot_schemas.render_table`. A table that exists is updated in place to
    the shipped config (:mod:`~modelhealth.pinot_schemas.upgrade`); ``log`` gets one line per
    table updated and a ``warning:`` line for each difference left alone. Every service it
    needs is checked first (:func:`check_services`); a step failing after that, or any table
    update failing, raises :class:`InitIncomplete` naming what was done and what was not.
    """
    check_namespace(namespace)
    if partitions is not None:
        _check_partitions(partitions)
    names = list(tables or TABLES)
    check_services()
    made = _Progress()
    try:
        _create(namespace, names, made, reset, partitions, bootstrap, batched, log)
    except Exception as exc:
        raise InitIncomplete(made.failure(exc)) from exc
    return [table_name(name, namespace) for name in names]


def _check_partitions(partitions: int) -> None:
    """Refuse a partition count Kafka would refuse, before anything is made: Kafka's answer
    came after 30 s of retries, as a raw protocol dump ending in advice to run the same
    command again."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"--partitions must be a whole number >= 1, got {partitions!r}")


class _Progress:
    """What one ``init_pinot`` created so far, for the error when a later step fails."""

    def __init__(self) -> None:
        self.dropped = False
        self.topics: list[str] = []
        self.schemas: list[str] = []
        self.tables: list[str] = []
        #: Existing tables brought up to the shipped config.
        self.updated: list[str] = []

    def failure(self, exc: BaseException) -> str:
        done = [
            ("dropped the old tables, schemas and topics", self.dropped),
            (f"topics {', '.join(self.topics)}", bool(self.topics)),
            (f"schemas {', '.join(self.schemas)}", bool(self.schemas)),
            (f"tables {', '.join(self.tables)}", bool(self.tables)),
        ]
        made = "; ".join(text for text, happened in done if happened) or "nothing"
        updated = f"; updated: tables {', '.join(self.updated)}" if self.updated else ""
        return (
            f"{exc}\n(created before this failed: {made}{updated}; once the cause is fixed, "
            "run `modelhealth pinot init` again with the same options: it is idempotent and "
            "completes the setup)"
        )


def _create(
    namespace: str,
    names: list[str],
    made: _Progress,
    reset: bool,
    partitions: int,
    bootstrap: str | None,
    batched: bool,
    log: Callable[[str], None],
) -> None:
    """The steps of :func:`init_pinot` in dependency order, recording each in ``made``."""
    if reset:
        drop_pinot(namespace, tables=names)
        made.dropped = True
    kept: dict[str, int] = {}
    for topic in [topic_name(n, namespace) for n in names] + [parked_topic(namespace)]:
        count = _ensure_topic_retrying(topic, partitions or DEFAULT_PARTITIONS)
        made.topics.append(topic)
        if partitions is not None and count is not None and count != partitions:
            kept[topic] = count
    if kept:
        log(_kept_partitions(kept, partitions or DEFAULT_PARTITIONS))
    existing: dict[str, dict[str, Any]] = {}
    for name in names:
        full = table_name(name, namespace)
        live = table_config(full)
        if live is not None:
            existing[name] = live
            continue
        add_schema(render_schema(name, namespace))
        made.schemas.append(full)
        _add_table_if_missing(
            render_table(name, namespace, bootstrap or ports.KAFKA_BOOTSTRAP, batched=batched)
        )
        made.tables.append(full)
    if existing:
        _upgrade(namespace, existing, made, batched, log)
    for full in made.tables + [table_name(name, namespace) for name in existing]:
        _wait_queryable(full)


def _kept_partitions(kept: dict[str, int], asked: int) -> str:
    """The warning for topics that existed with another partition count than ``--partitions``:
    Kafka never shrinks a topic and Pinot reads the count once, so ``init`` leaves them be."""
    listed = ", ".join(f"{topic} ({count})" for topic, count in kept.items())
    return (
        f"warning: --partitions {asked} applies to new topics only; these exist with another "
        f"partition count and keep it: {listed}; `modelhealth pinot init --reset "
        f"--partitions {asked}` recreates them (dropping their rows)"
    )


def _upgrade(
    namespace: str,
    existing: dict[str, dict[str, Any]],
    made: _Progress,
    batched: bool,
    log: Callable[[str], None],
) -> None:
    """Bring each existing table up to the shipped config; every table is tried, and a failed
    one raises at the end naming the tables updated and those not."""
    failed: list[str] = []
    for name, live in existing.items():
        full = table_name(name, namespace)
        try:
            plan = upgrade.plan(name, namespace, live, get_schema(full), batched=batched)
            for warning in plan.warnings:
                log(warning)
            if plan.needed:
                upgrade.apply(plan)
                made.updated.append(full)
                log(plan.describe())
        except ServicesError as exc:
            failed.append(f"{full} ({exc})")
    if failed:  # the tables that were updated are named by _Progress.failure
        none = "" if made.updated else " (no table was updated)"
        raise ServicesError(
            f"could not update {len(failed)} existing table(s) to the shipped config: "
            f"{'; '.join(failed)}{none}"
        )


def _add_table_if_missing(config: dict[str, Any]) -> None:
    try:
        add_table(config)
    except ServicesError as exc:
        if "already exist" not in str(exc) and "HTTP 409" not in str(exc):
            raise


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


def _ensure_topic_retrying(name: str, partitions: int, timeout: float = 30.0) -> int | None:
    """Kafka deletes topics asynchronously; a create right after a delete may fail briefly.
    Returns the topic's partition count (None when unknown)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ensure_topic(name, partitions)
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
        type=positive_int,
        default=None,
        help=f"Kafka partitions of each topic it creates (default {DEFAULT_PARTITIONS}); "
        "existing topics keep theirs (a warning names them; --reset recreates them)",
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
        sp.add_argument(
            "--namespace",
            default="",
            help="prefix of the table and topic names, e.g. demo_ (the demo's); default: none",
        )
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
