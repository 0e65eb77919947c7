"""argparse value types shared by the command lines: argparse turns the error they raise into
a usage error (exit 2) that names the option, instead of a failure deep in the command."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A whole number >= 1 (``contract create --bins``, ``pinot init --partitions``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value
