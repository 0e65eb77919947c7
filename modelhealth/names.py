"""Validation of identifiers that end up in SQL, topic names or file paths.

Names come from configs and events; they are checked here once and never interpolated
unchecked. Values always travel as bound parameters; only validated *identifiers* (column
aliases, table names) are ever formatted into SQL text.

Versions are values, not identifiers: release tags like ``1.0.3``, ``2024-06-01`` or ``3`` are
common, so a version may start with a digit. That is safe because no store formats a version
into SQL text: DuckDB binds it (``?``) and Pinot binds it (``%(version)s``, quoted and escaped
by pinotdb). The character set stays the same as for names (letters, digits, ``_ . -``), so a
version is still safe in a file path, a metric label or a log line.
"""

from __future__ import annotations

import re

from modelhealth.errors import InvalidName

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
"""Models, features, hosts: letters, digits, ``_ . -``, starting with a letter/_ (versions:
see :data:`VERSION_PATTERN`). Matched with ``fullmatch``: ``$`` alone would let a trailing
newline through."""

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
"""Versions: the same characters as names, but a leading digit is allowed (``1.0.3``)."""

NAME_RULE = "1-128 characters of letters, digits, '_', '.', '-', starting with a letter or '_'"
VERSION_RULE = (
    "1-128 characters of letters, digits, '_', '.', '-', starting with a letter, digit or '_'"
)

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid model/feature/version name, else raise InvalidName.

    ``what="version"`` applies the version rule (a leading digit is allowed), so every caller
    that checks a version this way (store scopes, drift comparisons) accepts what the SDK does.
    """
    version = what == "version"
    if not (is_valid_version(value) if version else is_valid_name(value)):
        rule = VERSION_RULE if version else NAME_RULE
        raise InvalidName(f"invalid {what} {value!r}: expected {rule}")
    return value  # type: ignore[return-value]


def is_valid_name(value: object) -> bool:
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


def is_valid_version(value: object) -> bool:
    """A model version: like a name, but it may start with a digit (see the module doc)."""
    return isinstance(value, str) and VERSION_PATTERN.fullmatch(value) is not None


def check_identifier(value: str) -> str:
    """Return a SQL identifier (table/column) after checking it, for the few formatted spots."""
    if not IDENTIFIER_PATTERN.fullmatch(value):
        raise InvalidName(f"invalid SQL identifier {value!r}")
    return value
