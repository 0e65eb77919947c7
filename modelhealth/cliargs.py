"""Checks shared by the command lines: argparse value types (argparse turns the error they
raise into a usage error, exit 2, that names the option, instead of a failure deep in the
command) and :func:`file_problem` for the options that name a file, so ``rules`` and
``silence`` refuse the same paths with the same words.

Only the standard library, and only light modules of it: ``modelhealth rules`` imports this
before it takes the signals (see ``modelhealth/rules/cli.py``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def positive_int(text: str) -> int:
    """A whole number >= 1 (``contract create --bins``, ``pinot init --partitions``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def file_problem(raw: str, expected: str, *, writes: bool = False) -> str:
    """Why ``raw`` cannot serve as the file an option names, or "": the caller puts the
    option's name in front (``--state``, ``--routing``, ``--alerts-db``, ``--db``).

    ``expected`` says what the option should be (``"a file path, e.g. state/alerts.json"``).
    A missing file is fine when ``writes`` (it is created, so its nearest existing folder
    must be writable) and left to the reader otherwise (whose error names the file). Checked
    before anything opens the path: a directory ended in an IsADirectoryError traceback or
    sqlite's "unable to open database file", which named neither the option nor the fix."""
    path = Path(raw)
    if not raw.strip():
        return f"is empty; expected {expected}"
    if path.is_dir():
        return f"{raw} is a directory; expected {expected}"
    folder = next((f for f in path.parents if f.exists()), Path("."))
    if not folder.is_dir():
        made = "cannot make its folder: " if writes else ""
        return f"{raw}: {made}{folder} is not a directory; expected {expected}"
    if path.exists():
        if not os.access(path, os.R_OK):
            return f"{raw} cannot be read (permission denied); expected {expected}"
        if writes and not os.access(path, os.W_OK):
            return f"{raw} cannot be written (permission denied); expected {expected}"
    elif writes and not os.access(folder, os.W_OK | os.X_OK):
        return f"{raw} cannot be created: {folder} is not writable (permission denied)"
    return ""
