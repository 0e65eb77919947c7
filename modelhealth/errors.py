"""Errors that carry the data a user needs to fix the cause."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourcePos:
    """Where in a config file something was written (1-based line and column)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


class ModelHealthError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one config file, formatted ``file:line:col: context: field: message``."""

    pos: SourcePos
    message: str
    field: str = ""
    context: str = ""

    def __str__(self) -> str:
        parts = [str(self.pos)]
        if self.context:
            parts.append(self.context)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(ModelHealthError):
    """A config file (or several) failed validation; holds every issue, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class InvalidName(ModelHealthError, ValueError):
    """A model, feature or other identifier that may not reach SQL."""


class StoreUnavailable(ModelHealthError):
    """The query backend could not be reached or answered with an error."""


class EmptyWindow(ModelHealthError, ValueError):
    """A detector or metric was asked to judge a window with no data."""


FILE_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError)
"""What reading and parsing one of our JSON files can raise (json.JSONDecodeError is a
ValueError); callers that must go on without the file catch these and say :func:`why_unusable`."""


def why_unusable(exc: BaseException, kind: str) -> str:
    """Why a JSON file could not be used, to follow its path in a message:
    ``"is not valid JSON (Expecting value at line 2 column 1)"``, ``"cannot be read (...)"``,
    or ``"is not <kind> (KeyError: 'x')"`` for JSON of the wrong shape."""
    import json

    if isinstance(exc, json.JSONDecodeError):
        return f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc})"
    return f"is not {kind} ({type(exc).__name__}: {exc})"


def undecodable_at(exc: UnicodeDecodeError) -> tuple[int, int]:
    """The 1-based line and column of the first byte a text file failed to decode at, so a
    "not UTF-8" error points at the accented word (``byte 1787`` alone left the owner
    counting bytes)."""
    before = bytes(exc.object[: exc.start])
    return before.count(b"\n") + 1, exc.start - before.rfind(b"\n")  # rfind: -1 on line 1
