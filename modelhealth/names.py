"""Validation of identifiers that end up in SQL, topic names or file paths.

Names come from configs and events; they are checked here once and never interpolated
unchecked. Values always travel as bound parameters; only validated *identifiers* (column
aliases, table names) are ever formatted into SQL text.
"""

from __future__ import annotations

import re

from modelhealth.errors import InvalidName

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
"""Models, versions, features, hosts: letters, digits, ``_ . -``, starting with a letter/_."""

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid model/feature/version name, else raise InvalidName."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidName(
            f"invalid {what} {value!r}: expected 1-128 characters of letters, digits, '_', '.', '-'"
            " starting with a letter or '_'"
        )
    return value


def is_valid_name(value: object) -> bool:
    return isinstance(value, str) and NAME_PATTERN.match(value) is not None


def check_identifier(value: str) -> str:
    """Return a SQL identifier (table/column) after checking it, for the few formatted spots."""
    if not IDENTIFIER_PATTERN.match(value):
        raise InvalidName(f"invalid SQL identifier {value!r}")
    return value
