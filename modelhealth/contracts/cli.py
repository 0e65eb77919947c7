"""``modelhealth contract create|validate``: build a contract, check a batch against it.

    modelhealth contract create --reference train.parquet --model fraud --out fraud.contract.yaml
    modelhealth contract validate fraud.contract.yaml --data batch.csv [--checks my.checks]

``validate`` exits 0 when healthy or only warnings, 2 on any critical check (a batch without
rows is one), 1 on bad input.
A contract with a broken column or custom entry is still checked without it: its errors are
printed (file:line:col) above the report of the rest, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from modelhealth.cliargs import positive_int
from modelhealth.contracts.build import build_contract, read_table
from modelhealth.contracts.checks import CheckRegistry, load_registry
from modelhealth.contracts.datamodel import DataContract
from modelhealth.contracts.report import Status
from modelhealth.contracts.validate import validate_frame
from modelhealth.errors import ModelHealthError

EXIT_OK, EXIT_INPUT, EXIT_CRITICAL = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelhealth contract", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="profile a reference (training) file into a contract")
    c.add_argument("--reference", required=True, help="train.csv or train.parquet")
    c.add_argument("--model", required=True, help="the model the contract is for")
    c.add_argument("--out", help="contract path (.yaml or .json); default MODEL.contract.yaml")
    c.add_argument(
        "--bins", type=positive_int, default=10, help="quantile bins per numeric column (>= 1)"
    )
    c.add_argument(
        "--special",
        type=float,
        action="append",
        help="numeric special value (repeatable); default -1 and -999999",
    )
    c.add_argument("--version", type=positive_int, default=1, help="contract version number (>= 1)")
    c.add_argument(
        "--force", action="store_true", help="overwrite an existing contract file at --out"
    )
    v = sub.add_parser("validate", help="check a batch file against a contract")
    v.add_argument("contract", help="contract file (.yaml or .json) from `contract create`")
    v.add_argument("--data", required=True, help="batch.csv or batch.parquet")
    v.add_argument(
        "--checks",
        help="custom checks: a module (current folder or path) or a .py file defining "
        "CHECKS = {name: fn} or register(registry)",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--all", action="store_true", help="list healthy checks too")
    return p


def contract_main(argv: Sequence[str], out: TextIO | None = None) -> int:
    """Entry point for ``modelhealth contract ...``; returns the process exit code."""
    stream = out or sys.stdout
    args = _parser().parse_args(list(argv))
    try:
        if args.command == "create":
            return _create(args, stream)
        return _validate(args, stream)
    except OSError as exc:  # "path: what went wrong", not "[Errno 2] ...: 'path'"
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except (ModelHealthError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT


def _create(args: argparse.Namespace, out: TextIO) -> int:
    target = Path(args.out or f"{args.model}.contract.yaml")
    if target.exists() and not args.force:
        # a contract is reviewed and versioned: re-profiling must not silently replace it
        print(
            f"error: {target} exists; pass --force to overwrite it, or --out another path "
            "(and --version N+1 for a new version of the contract)",
            file=sys.stderr,
        )
        return EXIT_INPUT
    frame = read_table(args.reference)
    if frame.empty:  # build_contract refuses it too; here the message names the file
        print(
            f"error: {args.reference}: no rows to profile ({len(frame.columns)} columns, "
            "0 rows); a contract is built from the training data",
            file=sys.stderr,
        )
        return EXIT_INPUT
    kwargs = {"special_values": tuple(args.special)} if args.special else {}
    contract = build_contract(
        args.model,
        frame,
        bins=args.bins,
        created_from=Path(args.reference).name,
        contract_version=args.version,
        **kwargs,
    )
    path = contract.save(target)
    print(f"wrote {path}: {len(contract.columns)} columns, {contract.row_count} rows", file=out)
    return EXIT_OK


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    contract, issues = DataContract.load_partial(args.contract)
    for issue in issues:  # first: a later input error must not hide them
        print(f"error: {issue}", file=sys.stderr)
    registry = load_registry(args.checks) if args.checks else CheckRegistry()
    report = validate_frame(contract, read_table(args.data, contract), registry)
    print(report.to_json() if args.json else report.format_text(all_checks=args.all), file=out)
    if issues:
        # the batch may be fine, but the columns above went unchecked: never a green exit
        print(
            f"error: {len(issues)} contract error(s) above: the columns and custom checks "
            "they name were not checked",
            file=sys.stderr,
        )
        return EXIT_INPUT
    return EXIT_CRITICAL if report.status == Status.CRITICAL else EXIT_OK
