"""The ``modelhealth`` command: a thin dispatcher to each subsystem's own ``main``.

Subcommands are imported lazily so ``modelhealth rules validate`` does not pay for Streamlit,
Kafka or LightGBM imports.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable

from modelhealth.errors import ModelHealthError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("modelhealth.demo.runner:demo_main", "run the simulated fleet end to end"),
    "rules": ("modelhealth.rules.cli:rules_main", "validate, evaluate, run, backtest rules"),
    "silence": ("modelhealth.alerting.silences:silence_main", "add, list or expire silences"),
    "dashboard": ("modelhealth.dashboard.launch:dashboard_main", "start the Streamlit dashboard"),
    "services": ("modelhealth.services:main", "fetch, start, stop local Kafka + Pinot JVMs"),
    "pinot": ("modelhealth.pinot_schemas.init:pinot_main", "create Pinot schemas and tables"),
    "contract": ("modelhealth.contracts.cli:contract_main", "create or validate data contracts"),
    "anomaly": (
        "modelhealth.anomaly.cli:anomaly_main",
        "train the learned anomaly detector; export the store's series to train it on",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: modelhealth COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += [
        "",
        "Run `modelhealth COMMAND --help` for a command's options;"
        " `modelhealth --version` prints the version.",
    ]
    return "\n".join(lines)


def _resolve(target: str) -> Callable[[list[str]], int]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def _hint(typed: str) -> str:
    """`` (did you mean 'rules'?)`` for a misspelt command (``rule``, ``silences``), else ""."""
    close = difflib.get_close_matches(typed, list(COMMANDS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _refused(command: str, exc: ModelHealthError) -> int:
    """An error raised on purpose that reached the top: its message, never a traceback.
    (A ``MODELHEALTH_*_PORT`` holding no port raised one while the command's modules were
    imported, and the user saw a traceback of imports.)"""
    print(f"modelhealth {command}: {exc}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from modelhealth import __version__

        print(__version__)
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        hint = _hint(args[0])
        print(f"modelhealth: unknown command {args[0]!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        handler = _resolve(entry[0])
    except (ImportError, AttributeError) as exc:
        print(f"modelhealth {args[0]}: not available in this installation ({exc})", file=sys.stderr)
        return 2
    except ModelHealthError as exc:
        return _refused(args[0], exc)
    try:
        return int(handler(args[1:]) or 0)
    except ModelHealthError as exc:
        return _refused(args[0], exc)
    except BrokenPipeError:
        # `modelhealth rules metrics | head`: the reader left; that is not an error. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
