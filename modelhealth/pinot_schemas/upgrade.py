"""What ``modelhealth pinot init`` does to a table that already exists: bring it up to the
shipped config without dropping it.

A table made by an older modelhealth kept its old config for ever (``init`` left existing
tables alone), e.g. Pinot's 5 s Kafka poll instead of the shipped 0.5 s, which made
``services down`` wait 5 s per consuming segment. Now ``init`` compares, per existing table:

* the **stream settings**: every key of the shipped ``streamConfigMaps`` entry except the
  deployment's own (:data:`NOT_OWNED`: topic, Kafka address, decoder class). A key the
  shipped config does not name (the user's own) is kept; one it names is modelhealth's and
  set back to the shipped value (the line says so), except the segment flush thresholds
  (:data:`TUNABLE_PREFIX`): they size segments to a deployment's traffic, so a value tuned by
  hand stays and only a missing one is set. The
  decoder's ``columns`` and ``required`` props follow the schema, so they are only synced
  while the table uses modelhealth's decoder and its schema can follow the shipped one. A
  table on another decoder than this run would create (``--single-row-messages`` or not) is
  a warning: switching it in place could stop consumption on a server without the jar;
* the **schema**: a column the shipped schema has and the live one lacks is added in place
  (``PUT /schemas/{name}?reload=true``: Pinot accepts added columns only, and the reload gives
  the stored segments, the consuming one too, the column with its default value). A column
  the user added is kept. A column whose type (or kind, format) differs cannot be changed on a
  live table: that is a warning naming it and pointing at ``pinot init --reset``.

Nothing else is touched (name, type, time column, replication, indexes, tenants, ...).

When a change takes effect, as measured on Pinot 0.11: the controller stores the new config at
once, but a consuming segment reads its stream settings (poll timeout, decoder and its props,
flush thresholds) once, when it starts. A table whose consuming segments polled Kafka for
20 s still took the server 34 s to stop after a ``PUT`` of 500 ms, and 30 s after a ``PUT``
plus a segment reload; after a server restart it took 1.2 s, and after the segments rolled
over (flush threshold reached) 0.5 s. A column added in place reads its default value in the
consuming segment too (its decoder and schema are the old ones) until that segment starts
again; after a restart it re-reads its rows from Kafka and holds the real values. So ``init``
says: the changes reach each partition at its next roll-over (within the flush threshold,
1 h), or at once with a restart of the Pinot server, whose stop still waits out the old polls.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from modelhealth.pinot_schemas import (
    COLUMNS_KEY,
    DECODER_CLASS,
    DECODER_KEY,
    REQUIRED_KEY,
    render_schema,
    render_table,
    table_name,
)
from modelhealth.services.pinot import add_schema, update_schema, update_table

TOPIC_KEY = "stream.kafka.topic.name"
BROKERS_KEY = "stream.kafka.broker.list"
#: Stream keys that belong to the deployment, not to modelhealth's shipped config: the topic
#: (derived from the table name), the Kafka address (``--kafka``; a table may consume from
#: another cluster than the one ``init`` runs next to) and the decoder class (stock or
#: modelhealth's: ``--single-row-messages``, and switching needs the jar on the server).
NOT_OWNED = (TOPIC_KEY, BROKERS_KEY, DECODER_KEY)
#: Stream keys a deployment tunes to its traffic (segment size): kept when set.
TUNABLE_PREFIX = "realtime.segment.flush.threshold."
#: Decoder props that list the schema's columns.
SCHEMA_KEYS = (COLUMNS_KEY, REQUIRED_KEY)
_FIELD_KINDS = ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")
_KIND_NAMES = {
    "dimensionFieldSpecs": "dimension",
    "metricFieldSpecs": "metric",
    "dateTimeFieldSpecs": "date-time",
}

#: When stream settings and new columns reach the consuming segments, for the line that
#: reports a change.
TAKES_EFFECT = (
    "A consuming segment takes stream settings and new columns when it starts: at its next "
    "roll-over (within the flush threshold: 1 h, sooner under heavy traffic), or now if you "
    "restart the Pinot server "
    "(`modelhealth services down --timeout 60`, as this stop still waits out the old Kafka "
    "polls, then `modelhealth services up`; it re-reads its rows from Kafka)"
)
RESET_HINT = "`modelhealth pinot init --reset` recreates it (dropping the table's rows)"


@dataclass
class SchemaDiff:
    """How a live schema differs from the shipped one."""

    #: ``(field kind, spec)`` of each shipped column the live schema lacks.
    missing: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: ``name (live …, shipped …)`` of each column present in both but different.
    differing: list[str] = field(default_factory=list)


@dataclass
class Upgrade:
    """What :func:`plan` found for one existing table; :func:`apply` carries it out."""

    table: str
    #: ``(key, live value or None, shipped value)`` of each stream setting to change.
    stream_changes: list[tuple[str, str | None, str]] = field(default_factory=list)
    #: The whole table config to PUT (the live one, stream settings merged), if any change.
    table_config: dict[str, Any] | None = None
    #: ``name (TYPE)`` of each column to add, and the merged schema to PUT.
    added_columns: list[str] = field(default_factory=list)
    schema: dict[str, Any] | None = None
    #: The table has no schema (deleted by hand): ``schema`` is the shipped one, to create.
    schema_missing: bool = False
    #: Lines for what ``init`` cannot change in place.
    warnings: list[str] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        return self.table_config is not None or self.schema is not None

    def describe(self) -> str:
        """The one line ``init`` prints for a table it updated."""
        parts = [_describe_change(key, old, new) for key, old, new in self.stream_changes]
        if self.schema_missing:
            parts.append("its schema was missing: created the shipped one")
        elif self.added_columns:
            parts.append(
                f"added column(s) {', '.join(self.added_columns)} to the schema and reloaded "
                "the segments (completed segments read the column's default value, and so "
                "does every row of a consuming segment until it starts again)"
            )
        line = f"updated table {self.table}: {'; '.join(parts)}"
        if self.stream_changes or self.added_columns:
            line += f". {TAKES_EFFECT}"
        return line


def _describe_change(key: str, old: str | None, new: str) -> str:
    """``key: old → new``; for comma lists (the decoder's columns) only what was added or
    removed, which is what a reader can check."""
    if old is not None and "," in old + new:
        before, after = old.split(","), new.split(",")
        delta = [f"+{item}" for item in after if item not in before]
        delta += [f"-{item}" for item in before if item not in after]
        if delta:
            return f"{key}: {' '.join(delta)}"
    return f"{key}: {'unset' if old is None else old} → {new}"


def stream_map(config: dict[str, Any]) -> dict[str, Any] | None:
    """The (first) stream settings map of a REALTIME table config, as an object of ``config``
    (so changing it changes ``config``): ``ingestionConfig.streamIngestionConfig`` or, in
    configs written for older Pinot versions, ``tableIndexConfig.streamConfigs``."""
    ingestion = config.get("ingestionConfig") or {}
    maps = (ingestion.get("streamIngestionConfig") or {}).get("streamConfigMaps") or []
    if maps and isinstance(maps[0], dict):
        return maps[0]
    legacy = (config.get("tableIndexConfig") or {}).get("streamConfigs")
    return legacy if isinstance(legacy, dict) else None


def _columns(schema: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        spec["name"]: (kind, spec)
        for kind in _FIELD_KINDS
        for spec in schema.get(kind) or []
        if isinstance(spec, dict) and "name" in spec
    }


def schema_diff(shipped: dict[str, Any], live: dict[str, Any]) -> SchemaDiff:
    """Compare each shipped column with the live one: missing, or differing in its kind or in
    a setting the shipped spec names (``dataType``, ``format``, ...). Live columns the shipped
    schema lacks are the user's and no difference."""
    diff = SchemaDiff()
    live_columns = _columns(live)
    for name, (kind, spec) in _columns(shipped).items():
        if name not in live_columns:
            diff.missing.append((kind, spec))
            continue
        live_kind, live_spec = live_columns[name]
        settings = [key for key in spec if key != "name" and live_spec.get(key) != spec[key]]
        if live_kind != kind:
            diff.differing.append(
                f"{name} (live {_KIND_NAMES[live_kind]}, shipped {_KIND_NAMES[kind]})"
            )
        elif settings:
            old = ", ".join(f"{key} {live_spec.get(key)}" for key in settings)
            new = ", ".join(f"{key} {spec[key]}" for key in settings)
            diff.differing.append(f"{name} (live {old}, shipped {new})")
    return diff


def plan(
    name: str,
    namespace: str,
    live_table: dict[str, Any],
    live_schema: dict[str, Any] | None,
    *,
    batched: bool = True,
) -> Upgrade:
    """What to change on existing table ``name`` (pure: no request is made)."""
    full = table_name(name, namespace)
    upgrade = Upgrade(full)
    shipped_schema = render_schema(name, namespace)
    schema_follows = True
    if live_schema is None:  # the table outlived its schema: put the shipped one back
        upgrade.schema = shipped_schema
        upgrade.schema_missing = True
    else:
        diff = schema_diff(shipped_schema, live_schema)
        if diff.differing:
            schema_follows = False
            lacks = ", ".join(spec["name"] for _, spec in diff.missing)
            upgrade.warnings.append(
                f"warning: schema {full} differs from the shipped one in column(s) "
                f"{'; '.join(diff.differing)}; Pinot cannot change a column of a live table, "
                "so the schema is left as is"
                + (f" (nor are the shipped column(s) it lacks added: {lacks})" if lacks else "")
                + f", and so are the decoder's column lists; {RESET_HINT}"
            )
        elif diff.missing:
            merged = copy.deepcopy(live_schema)
            for kind, spec in diff.missing:
                merged.setdefault(kind, []).append(copy.deepcopy(spec))
            upgrade.schema = merged
            upgrade.added_columns = [f"{spec['name']} ({spec['dataType']})"
                                     for _, spec in diff.missing]  # fmt: skip

    live = stream_map(live_table)
    if live is None:
        upgrade.warnings.append(
            f"warning: table {full} has no stream settings that init recognises; "
            f"left as is; {RESET_HINT}"
        )
        return upgrade
    live_decoder = live.get(DECODER_KEY)
    ours = live_decoder == DECODER_CLASS
    # compare in the decoder mode the table is in: init does not switch decoders in place
    shipped = stream_map(render_table(name, namespace, batched=ours))
    assert shipped is not None
    wanted = render_stream_decoder(name, batched)
    if live_decoder != wanted:
        upgrade.warnings.append(
            f"warning: table {full} uses the decoder {live_decoder}, not {wanted}; init does "
            f"not switch the decoder of an existing table; {RESET_HINT}"
            + ("" if batched else " with --single-row-messages")
        )
    skip = set(NOT_OWNED) | (set() if ours and schema_follows else set(SCHEMA_KEYS))
    for key, value in shipped.items():
        if key.startswith(TUNABLE_PREFIX) and key in live:
            continue
        if key not in skip and live.get(key) != value:
            upgrade.stream_changes.append((key, live.get(key), value))
    if upgrade.stream_changes:
        merged_table = copy.deepcopy(live_table)
        target = stream_map(merged_table)
        assert target is not None
        for key, _, value in upgrade.stream_changes:
            target[key] = value
        upgrade.table_config = merged_table
    return upgrade


def render_stream_decoder(name: str, batched: bool) -> str:
    """The decoder class a new table ``name`` gets in this mode."""
    rendered = stream_map(render_table(name, batched=batched))
    assert rendered is not None
    return str(rendered[DECODER_KEY])


def apply(upgrade: Upgrade) -> None:
    """Schema first (the table's decoder props may name its new columns), then the table."""
    if upgrade.schema is not None and upgrade.schema_missing:
        add_schema(upgrade.schema)
    elif upgrade.schema is not None:
        update_schema(upgrade.schema, reload=True)
    if upgrade.table_config is not None:
        update_table(upgrade.table_config)
