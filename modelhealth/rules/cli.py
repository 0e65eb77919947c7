"""``modelhealth rules validate|eval|run|backtest|metrics``: the rules engine's command line.

Store options are shared by every command and resolved in one place, :func:`open_store`:
``--backend duckdb --db PATH`` (default; opened read-only where the command only reads) or
``--backend pinot --broker URL [--namespace NS]`` once the Pinot backend is installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only light modules here: ``modelhealth rules`` imports this one before ``rules_main`` runs,
# and until then a Ctrl-C or SIGTERM is Python's own (a traceback, or death). The rule
# engine's modules (scipy, pandas: seconds) are imported once :func:`rules_main` has taken
# the signals (see :class:`_StopRequest`).
from modelhealth.clock import Clock, SystemClock, from_epoch_ms
from modelhealth.errors import ConfigError, StoreUnavailable
from modelhealth.rules.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from modelhealth.rules.config import LoadResult
    from modelhealth.types import Alert

BACKENDS = ("duckdb", "pinot")
Notify = Callable[[Sequence["Alert"], datetime], None]
"""What takes the alerts a tick hands over (as ``Evaluator``'s ``notify``)."""
DUCKDB_EXAMPLE = "a DuckDB database file, e.g. health.duckdb"
log = logging.getLogger("modelhealth.rules")


def open_store(
    args: argparse.Namespace, read_only: bool = True, prog: str = "rules", retry: bool = False
) -> Any:
    """The QueryBackend the command line names (the only place that maps options to a store);
    ``prog`` starts its error messages. With ``retry`` (the rules scheduler) a DuckDB file
    that exists but cannot be opened now is opened again at each query, its failures a store
    outage the engine reports (``MonitoringBlind``), not an exit."""
    namespace = _namespace(args, prog)
    if args.backend == "duckdb":
        from modelhealth.cliargs import file_problem
        from modelhealth.store.duckdb import DuckDBStore, ReopeningDuckDB

        if not args.db:
            raise SystemExit(f"{prog}: --db PATH is required for the duckdb backend")
        if not Path(args.db).exists():
            # never create one: a mistyped path would be an empty store that reports all clear
            raise SystemExit(f"{prog}: no DuckDB database at {args.db}")
        # a directory or a file it may not read: with retry, each tick failed as an "outage"
        problem = file_problem(args.db, DUCKDB_EXAMPLE, writes=not read_only)
        if problem:
            raise SystemExit(f"{prog}: --db {problem}")
        if retry and read_only:
            store = ReopeningDuckDB(args.db)  # follows a file replaced under its name
            try:
                store.open_now()
            except StoreUnavailable as exc:
                log.warning("%s; each tick tries again, and the store counts as down until "
                            "it opens", exc)  # fmt: skip
            return store
        try:
            return DuckDBStore(args.db, read_only=read_only)
        except Exception as exc:  # duckdb.IOException: locked by a writer, not a database...
            raise SystemExit(f"{prog}: cannot open {args.db}: {exc}") from None
    if args.backend == "pinot":
        try:
            from modelhealth.store.pinot import PinotStore  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SystemExit(f"{prog}: the pinot backend is not installed ({exc})") from None
        try:  # no --broker: the local broker `modelhealth services up` starts
            return PinotStore(args.broker, namespace=namespace)
        except ValueError as exc:  # e.g. no http:// in front
            raise SystemExit(f"{prog}: --broker: {exc}") from None
    raise SystemExit(f"{prog}: unknown backend {args.backend!r}; known: {', '.join(BACKENDS)}")


def _namespace(args: argparse.Namespace, prog: str) -> str:
    """``--namespace`` checked as ``pinot init`` checks it (a prefix of Pinot table names);
    an exit 2 naming the option, and with the duckdb backend, which has no namespaces and
    would read its one store while the user meant other tables."""
    from modelhealth.pinot_schemas import check_namespace

    namespace: str = getattr(args, "namespace", "") or ""
    if not namespace:
        return ""
    if args.backend != "pinot":
        print(f"{prog}: --namespace names Pinot tables: use it with --backend pinot",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    try:
        return check_namespace(namespace)
    except ValueError as exc:
        print(f"{prog}: --namespace {namespace!r}: {exc} (letters, digits and _, starting with"
              " a letter or _, e.g. demo_)", file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None


def add_store_options(p: argparse.ArgumentParser) -> None:
    """The store options :func:`open_store` reads (shared with ``anomaly export``)."""
    p.add_argument("--backend", choices=BACKENDS, default="duckdb")
    p.add_argument("--db", help="DuckDB database file (duckdb backend)")
    p.add_argument(
        "--broker",
        help="Pinot broker URL (pinot backend; default: the local one `modelhealth services up`"
        " starts, http://127.0.0.1:$MODELHEALTH_PINOT_BROKER_PORT, 8099)",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        default="",
        help="pinot backend: read the tables `modelhealth pinot init --namespace NS` made (NS"
        " prefixes their names, e.g. demo_ for the demo's; default: the un-prefixed tables)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelhealth rules", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check rule files; exit 1 on any error")
    v.add_argument("paths", nargs="+", help="rule files or folders of them (*.yaml)")
    e = sub.add_parser(
        "eval", help="evaluate the rules once; print what fires, resolves and is pending"
    )
    e.add_argument("paths", nargs="+", help="rule files or folders of them (*.yaml)")
    e.add_argument("--once", action="store_true", help="one tick (the default and only mode)")
    e.add_argument("--at", help="ISO time to evaluate at (default: now)")
    e.add_argument(
        "--state",
        help="alert state JSON to read and update, with the scheduler's memory beside it "
        "(without it nothing carries over to the next eval: rules with for: never fire, and "
        "schedule:/trigger: are not applied)",
    )
    add_store_options(e)
    r = sub.add_parser("run", help="the scheduler daemon: evaluate every --interval")
    r.add_argument("paths", nargs="+", help="rule files or folders of them (*.yaml)")
    r.add_argument("--interval", default="1m", help="tick interval, slot-aligned (default 1m)")
    r.add_argument(
        "--state", default="state/alerts.json", help="alert state JSON (default state/alerts.json)"
    )
    r.add_argument("--max-ticks", type=int, default=0, help="stop after N ticks (0 = never)")
    r.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve the scheduler's own metrics (/metrics, Prometheus text format) and probes"
        " (/-/healthy, /-/ready) there, e.g. 127.0.0.1:9464 (default: not served)",
    )
    for cmd in (e, r):
        cmd.add_argument(
            "--routing",
            help="alert routing YAML (receivers, routes, inhibit rules"
            + ("; reloaded when edited)" if cmd is r else ")"),
        )
        cmd.add_argument(
            "--email-to",
            action="append",
            default=[],
            help="with no --routing: email every alert here (criticals also page); repeatable",
        )
        cmd.add_argument(
            "--alerts-db",
            default=None,
            help="SQLite outbox + silences, shared with `modelhealth silence --db` (default:"
            " $MODELHEALTH_ALERT_DB, else alerts.db beside --state, else state/alerts.db)",
        )
    add_store_options(r)
    b = sub.add_parser("backtest", help="replay rules over history, print when they would fire")
    b.add_argument("paths", nargs="+", help="rule files or folders of them (*.yaml)")
    b.add_argument("--since", default="30d", help="how far back to start (default 30d)")
    b.add_argument("--until", help="ISO end time (default: the newest stored row)")
    b.add_argument("--step", default="5m", help="tick spacing of the replay (default 5m)")
    from modelhealth.rules.backtest import MAX_TICKS

    b.add_argument(
        "--max-ticks",
        type=_positive_int,
        metavar="N",
        help=f"refuse (exit 2) a replay of more than N ticks (--since/--step + 1; default"
        f" {MAX_TICKS:,}, about 10 ms a tick for one threshold rule, a second for the demo's"
        " rules); raise it for a long history of cheap rules",
    )
    add_store_options(b)
    sub.add_parser("metrics", help="list the metrics rules can name")
    return p


def _positive_int(raw: str) -> int:
    """``--max-ticks``: a whole number of ticks, 1 or more (argparse makes a ValueError or
    ArgumentTypeError here a usage error, exit 2)."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, e.g. 500000; got {raw!r}")
    return value


def _load(paths: Sequence[str]) -> LoadResult:
    from modelhealth.rules.config import load_rules

    loaded = load_rules(paths)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    for issue in loaded.issues:
        print(issue, file=sys.stderr)
    return loaded


def rules_main(argv: list[str]) -> int:
    """Entry point of ``modelhealth rules``; returns the process exit code.

    ``rules run`` takes SIGTERM and SIGINT before anything else (:class:`_StopRequest`):
    they used to be taken only when the loop started, so one sent during the seconds of
    imports and store opening before it killed the daemon without a word, or printed a
    KeyboardInterrupt traceback."""
    stop = _StopRequest() if argv[:1] == ["run"] else None
    try:
        return _rules_main(argv, stop)
    except _StoppedStarting as exc:
        # 0 as for a stop after ticks (see _StopRequest): a stop that was asked for is a
        # clean stop, and a supervisor that sent it (systemd, Kubernetes) must not count it
        # as a failure (and restart the daemon) because it came early
        print(f"rules run: {exc}: stopped while starting, before the first tick", file=sys.stderr)
        return 0
    finally:
        if stop is not None:
            stop.undo()


def _rules_main(argv: list[str], stop: _StopRequest | None) -> int:
    args = _parser().parse_args(argv)
    if hasattr(args, "backend"):  # a usage error before the rules load, not after
        _namespace(args, f"rules {args.command}")
    if problem := receivers_problem(args):
        print(f"rules {args.command}: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per Pinot query otherwise
    if args.command == "metrics":
        from modelhealth.rules.metrics import catalog

        width = max(map(len, catalog()))
        for name, text in catalog().items():
            print(f"{name.ljust(width)}  {text}")
        return 0
    loaded = _load(args.paths)
    if args.command == "validate":
        n = len(loaded.issues)
        print(f"{len(loaded.rules)} rule(s) in {len(loaded.files)} file(s); {n} error(s)")
        return 1 if n else 0
    if not loaded.rules:
        print("rules: no rule loaded; fix the errors above (`modelhealth rules validate`)",
              file=sys.stderr)  # fmt: skip
        return 1
    if not loaded.ok:
        # as the README promises: a broken rule or file is skipped, the others still run;
        # a contract with a bad column entry skips none (its other columns are checked)
        from modelhealth.rules.loadissues import load_summary

        print(load_summary(loaded.issues, len(loaded.rules)), file=sys.stderr)
    try:
        options = _options(args)
        _check_paths(args)
    except ValueError as exc:
        print(f"rules {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.command == "backtest":
        # as eval and run: the good files are replayed, and a skipped one still fails the
        # command (it exited 0, so a CI backtest passed with a file it never loaded)
        return _backtest(args, loaded, options) or (0 if loaded.ok else 1)
    # the evaluator only reads the store (alert state, outbox and silences live in their own
    # files), so it never takes DuckDB's write lock: eval and run work while a backtest or the
    # dashboard holds the file (read-only too)
    store = open_store(args, read_only=True, retry=True)
    try:
        if args.command == "eval":
            code = _eval_once(args, loaded, store, options)
        else:
            assert stop is not None, "rules_main takes the signals of rules run"
            code = _run(args, loaded, store, SystemClock(), options, stop)
    except ConfigError as exc:  # the routing file
        print(f"rules {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return code or (0 if loaded.ok else 1)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The command's times and durations, parsed before anything starts; ValueError says
    which option is wrong and what it expects."""
    out: dict[str, Any] = {}
    for name in ("interval", "since", "step"):
        raw = getattr(args, name, None)
        if raw is None:
            continue
        try:
            value = parse_duration(raw)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"--{name} {raw!r}: {exc}") from None
        if value <= timedelta(0):
            raise ValueError(f"--{name} {raw!r}: must be positive, e.g. 5m")
        out[name] = value
    if getattr(args, "listen", None):
        from modelhealth.rules.selfmetrics import parse_listen

        out["listen"] = parse_listen(args.listen)
    for name in ("at", "until"):
        raw = getattr(args, name, None)
        if raw is None:
            continue
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(
                f"--{name} {raw!r}: expected an ISO time, e.g. 2026-11-20T12:00Z"
            ) from None
        out[name] = when if when.tzinfo else when.replace(tzinfo=UTC)
    return out


def receivers_problem(args: argparse.Namespace) -> str:
    """Why ``--email-to`` cannot go with ``--routing``, or "".

    ``--email-to`` stands in for a routing file (every alert emailed, criticals also paged:
    ``RoutingConfig.default``); with ``--routing`` the file names every receiver, as
    Alertmanager's config does, and the addresses were silently dropped, so whoever added
    them was never emailed. Merging them in would make a receiver the reloaded file does not
    show, so the answer is where to put them in the file instead."""
    routing = getattr(args, "routing", None)
    email_to = getattr(args, "email_to", None) or []
    if not routing or not email_to:
        return ""
    import json  # as YAML: a flow list of quoted strings

    to = json.dumps(email_to)
    return (
        f"--email-to cannot be combined with --routing {routing}: the routing file names"
        " every receiver, and --email-to stands in for one only without it. To email"
        f" {', '.join(email_to)}, add an email receiver to {routing} instead, e.g. receivers:"
        f" [{{name: oncall, email: {{to: {to}}}}}] with route: {{receiver: oncall}} (or a"
        " child route to it with continue: true), and drop --email-to"
    )


STATE_EXAMPLE = "a file path, e.g. state/alerts.json"
ROUTING_EXAMPLE = "a routing YAML file, e.g. examples/routing.yaml"
ALERTS_DB_EXAMPLE = "a SQLite file path, e.g. state/alerts.db"


def _check_paths(args: argparse.Namespace) -> None:
    """The file options, checked before anything opens them; ValueError names the option
    and what it expects (a directory given as ``--state`` ended in an IsADirectoryError
    traceback, one given as ``--alerts-db`` in sqlite's "unable to open database file")."""
    from modelhealth.cliargs import file_problem  # shared with `silence --db`

    for option, attr, expected, writes in (
        ("--state", "state", STATE_EXAMPLE, True),
        ("--routing", "routing", ROUTING_EXAMPLE, False),
        ("--alerts-db", "alerts_db", ALERTS_DB_EXAMPLE, True),
    ):
        raw = getattr(args, attr, None)
        if raw is None:
            continue
        problem = file_problem(raw, expected, writes=writes)
        if problem:
            raise ValueError(f"{option} {problem}")
    for address in getattr(args, "email_to", None) or []:
        from modelhealth.alerting.config import address_problem

        if problem := address_problem(address):
            raise ValueError(f"--email-to {problem}")


def _evaluator(
    args: argparse.Namespace,
    loaded: LoadResult,
    store: Any,
    clock: Clock,
    previous: Any = None,
) -> Any:
    """The evaluator of ``loaded``; given the ``previous`` one (a reload), it takes over
    that one's alert state and dispatcher, as a restarted process would read them, and a
    rule whose detector cannot be built now runs on with the detector it had there.

    The evaluator's issues (detectors that did not build) are added to ``loaded``'s, and
    ``loaded.rules`` becomes the rules it runs."""
    from modelhealth.rules.evaluator import Evaluator
    from modelhealth.rules.state import AlertStateStore

    if previous is not None:
        state = previous.state
    else:
        try:
            state = (
                AlertStateStore(args.state) if getattr(args, "state", None) else AlertStateStore()
            )
        except OSError as exc:  # a race with _check_paths, or a file system that refuses
            raise SystemExit(
                f"rules: --state {args.state} cannot be read ({exc.strerror or exc}); expected"
                f" {STATE_EXAMPLE}"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError: a ValueError
            raise SystemExit(unreadable_state(args.state, exc, clock.now())) from None
    from modelhealth.rules.loadissues import files_with_skipped_rules

    echo = _echo(args)
    ev = Evaluator(
        loaded.rules,
        store,
        state=state,
        clock=clock,
        notify=echo,
        # with a file skipped, its rules' remembered alerts are not "removed": keep them (a
        # contract read without a bad entry skips no rule: a deleted rule's alerts resolve)
        retire_orphans=not files_with_skipped_rules(loaded.issues),
        previous=previous,
    )
    if ev.issues:
        # a detector that did not build (a damaged learned model) is an error of the load:
        # counted in /metrics, answered by POST /-/reload, failing eval's exit status; the
        # rules in force are the evaluator's (the rule kept, with its previous detector, or
        # left out)
        loaded.rules = list(ev.rules)
        loaded.issues.extend(ev.issues)
    if previous is not None:
        # shared with the running evaluator: its references switch only when the reload
        # adopts this one (_adopt), so a reload that keeps the running rules changes nothing
        dispatcher = getattr(previous, "dispatcher", None)
    else:
        dispatcher = _dispatcher(args, store, ev.references, clock)
    if dispatcher is not None:
        ev.dispatcher = dispatcher  # type: ignore[attr-defined]
        _deliver_through(ev, getattr(previous, "deliver", None) or dispatcher, echo)
    return ev


def unreadable_state(path: str, exc: Exception, now: datetime) -> str:
    """The error that stops ``rules run``/``eval`` on an alert state file it cannot parse.

    It stops (exit 1) rather than start afresh, which would forget the alerts silently; but
    under a supervisor that restarts it (systemd ``Restart=always``) each restart fails the
    same way, so the message is the whole fix: the command that moves the file aside (named
    with ``now``, in UTC, so an earlier one is not overwritten), what is lost with it and
    what is kept."""
    import shlex

    state = Path(path)
    aside = state.with_name(f"{state.name}.corrupt-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    beside = f"{state.stem}.scheduler.json and history.jsonl"
    return (
        f"rules: alert state {path} is unreadable ({type(exc).__name__}: {exc}); not"
        " started, as starting without it would forget its alerts (a supervisor's restarts"
        " fail the same way until it is moved). To start afresh, move it away:"
        f" mv {shlex.quote(path)} {shlex.quote(str(aside))}, and start again. Lost with it:"
        " which alerts were pending or firing; for: timers start over, an alert still firing"
        " fires again at the next tick or once its for: has passed (meanwhile its open"
        " notification may resolve after resolve_timeout and page again), and one no longer"
        " firing resolves after resolve_timeout. Kept: the alerting database (silences,"
        f" outbox, notification log) and {beside} beside it"
    )


def _echo(args: argparse.Namespace) -> Notify | None:
    """What prints the alerts a tick hands over: ``eval`` prints every one (its one tick is
    the answer); ``run`` none, as its loop logs the changes and a line per tick
    (``rules/ticklog.py``) instead of every firing alert again at every tick."""
    return _print_alerts if args.command == "eval" else None


def _deliver_through(ev: Any, deliver: Notify, echo: Notify | None = None) -> None:
    """Have ``ev`` hand its notifications to ``deliver`` (kept as ``ev.deliver`` so a
    reloaded evaluator delivers the same way), printed by ``echo`` first if given."""

    def notify(alerts: Sequence[Alert], now: datetime) -> None:
        if echo is not None:
            echo(alerts, now)
        deliver(alerts, now)

    ev.notify = notify
    ev.deliver = deliver


def _deliver_in_background(ev: Any, clock: Clock) -> Any:
    """Make ``ev``'s notifications go through a delivery thread (``rules/delivery.py``);
    returns it (None without a dispatcher), to be stopped when the loop ends."""
    if getattr(ev, "dispatcher", None) is None:
        return None
    from modelhealth.rules.delivery import BackgroundDelivery

    delivery = BackgroundDelivery(ev.dispatcher, clock)
    _deliver_through(ev, delivery.hand_over)
    return delivery


def _dispatcher(args: argparse.Namespace, store: Any, references: Any, clock: Clock) -> Any:
    """Hand alerts to the alerting pipeline when a routing (or an --email-to) is given."""
    routing_path = getattr(args, "routing", None)
    email_to = getattr(args, "email_to", None) or []
    if not routing_path and not email_to:
        return None
    from modelhealth.alerting.pipeline import Dispatcher, build_receivers
    from modelhealth.alerting.routing import RoutingConfig, load_routing
    from modelhealth.alerting.silences import DEFAULT_DB
    from modelhealth.alerting.sqlite import UnreadableDatabase

    routing = load_routing(routing_path) if routing_path else RoutingConfig.default(email_to)
    db = _alerts_db(args, DEFAULT_DB)
    log.info("alerting database (outbox, silences): %s; silence with `modelhealth silence --db %s`",
             db, db)  # fmt: skip
    try:
        receivers = build_receivers(routing)
    except ConfigError as exc:  # e.g. MODELHEALTH_SMTP_PORT=25x
        raise SystemExit(f"rules: receiver settings: {exc}") from None
    _warn_unset(receivers.notifiers)
    try:
        return Dispatcher(
            routing, receivers.notifiers, db, clock, store=store, references=references,
            receiver_settings=receivers.settings,
        )  # fmt: skip
    except UnreadableDatabase as exc:
        raise SystemExit(f"rules: {exc}") from None
    except sqlite3.OperationalError as exc:  # e.g. a file system that refuses: name the file
        raise SystemExit(f"rules: alerting database {db} cannot be opened ({exc})") from None


def _alerts_db(args: argparse.Namespace, default: str) -> str:
    """The alerting database's path (``--alerts-db``, else ``$MODELHEALTH_ALERT_DB``, else
    beside ``--state``, else ``default``), its folder made; SystemExit names where the path
    came from when it cannot be a database file (``--alerts-db`` itself is checked with the
    other options, :func:`_check_paths`)."""
    from modelhealth.cliargs import file_problem

    env = os.environ.get("MODELHEALTH_ALERT_DB")
    if args.alerts_db:
        db, origin = args.alerts_db, "--alerts-db"
    elif env:
        db, origin = env, "$MODELHEALTH_ALERT_DB"
    elif args.state:
        db, origin = str(Path(args.state).with_name("alerts.db")), "the database beside --state"
    else:
        db, origin = default, "the default alerting database"
    problem = file_problem(db, ALERTS_DB_EXAMPLE, writes=True)
    if problem:
        raise SystemExit(f"rules: {origin} {problem}")
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    return db


def _warn_unset(notifiers: Mapping[str, Any]) -> None:
    """Say now, not at the first page, which receivers lack an environment variable: each
    of their notifications fails until it is set."""
    for name, notifier in notifiers.items():
        unset = getattr(notifier, "missing", list)()
        if unset:
            log.warning(
                "receiver %s cannot deliver: set %s", name, ", ".join(f"${v}" for v in unset)
            )


def _print_alerts(alerts: Sequence[Alert], now: datetime) -> None:
    for a in alerts:
        what = "RESOLVED" if a.is_resolved else a.state.name
        lb = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "metric")
        print(f"{now.isoformat()} {what:8} {lb}: {a.annotations.get('summary', '')}")


def _eval_once(
    args: argparse.Namespace, loaded: LoadResult, store: Any, options: dict[str, Any]
) -> int:
    from modelhealth.types import NOT_JUDGED_SINCE, AlertState

    clock = SystemClock()
    ev = _evaluator(args, loaded, store, clock)
    report = ev.tick(options.get("at") or clock.now())
    if getattr(ev, "dispatcher", None) is not None:
        # a one-shot evaluation does not wait out group_wait: deliver what it found now
        from modelhealth.alerting.routing import longest_group_wait

        # every route's group_wait (a child's may be longer than the root's), but not so long
        # that the alerts it found would time out unreported (resolve_timeout) first
        routing = ev.dispatcher.routing
        wait = min(
            longest_group_wait(routing.route), routing.resolve_timeout - timedelta(seconds=1)
        )
        ev.dispatcher.flush(report.at + wait)
    pending = [a for a in ev.state.alerts.values() if a.state is AlertState.PENDING]
    print(
        f"evaluated {report.evaluated} rule(s), {report.instances} instance(s), "
        f"{report.queries} queries; {len(report.firing)} firing, {len(pending)} pending, "
        f"{len(report.errors)} error(s)"
        + (f"; {report.skipped} not due (schedule:/trigger:)" if report.skipped else "")
    )
    for a in pending:
        lb = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "metric")
        print(f"pending: {lb}: {a.annotations.get('summary', '')}")
    if pending and not args.state:
        print(
            "note: pending alerts fire once their rule's for: has elapsed over later evals; "
            "without --state FILE each eval starts afresh, so they never do",
            file=sys.stderr,
        )
    for k, err in report.errors.items():
        print(f"error: {k}: {err}", file=sys.stderr)
    for note in no_rows_notes(report.no_rows):
        print(f"note: {note}", file=sys.stderr)
    for k in report.unmatched:
        print(f"note: {k}: {unmatched_note()}", file=sys.stderr)
    for k, why in report.not_judged.items():
        print(f"note: {k}: not judged: {why}", file=sys.stderr)
    for a in report.kept:  # when_not_judged: keep
        where = "".join(f", {k}={a.labels[k]}" for k in ("version", "feature") if k in a.labels)
        print(
            f"note: {a.labels.get('model', '')}/{a.labels.get('alertname', '')}{where}: "
            f"{a.state.name.lower()} alert kept, not judged since "
            f"{a.annotations.get(NOT_JUDGED_SINCE, '?')} (when_not_judged: keep)",
            file=sys.stderr,
        )
    return 1 if report.errors else 0


def no_rows_notes(no_rows: Mapping[str, str]) -> list[str]:
    """One note per model (or version) without a row in the store, naming its rules:
    ``TickReport.no_rows`` has one entry per rule, and a model with five rules got five
    lines listing every possible cause of a missing value."""
    rules: dict[str, list[str]] = {}
    for key, why in sorted(no_rows.items()):
        rules.setdefault(why, []).append(key.partition("/")[2])
    return [
        f"{why}: {len(names)} rule(s) have nothing to judge ({', '.join(names)}); check the"
        " model name, or it has sent no data yet"
        for why, names in rules.items()
    ]


def unmatched_note() -> str:
    """What a rule evaluated without a single instance with data may lack: the note ``eval``
    prints and ``run`` logs once per rule. A function, not a module constant, so that
    importing this module does not import the metrics (and scipy) before :func:`rules_main`
    has taken the signals; it imports them when a note is due, long after start-up."""
    from modelhealth.rules.metrics import MIN_LABELS

    return (
        "no value in its window: no data there (check the model, version and feature names, or"
        f" the model got no traffic), fewer than {MIN_LABELS} labels in for a performance.*"
        " metric, no reference profile for the features of a histogram metric, or drift bins"
        " the SDK stored with another profile than the rule's reference (or none)"
    )


def _run(
    args: argparse.Namespace,
    loaded: LoadResult,
    store: Any,
    clock: Clock,
    options: dict[str, Any],
    stop: _StopRequest,
) -> int:
    """The scheduler loop: a tick per slot, rule files and routing reloaded when they change
    (or on SIGHUP or ``POST /-/reload``), its own metrics served with ``--listen``; SIGTERM
    or SIGINT (``stop``) stop it between ticks."""
    from modelhealth.rules.reload import ConfigWatch
    from modelhealth.rules.selfmetrics import EngineMetrics, serve
    from modelhealth.rules.ticklog import Transitions, pending_count, tick_summary

    interval = options["interval"].total_seconds()
    ev = _evaluator(args, loaded, store, clock)
    delivery = _deliver_in_background(ev, clock)
    metrics = EngineMetrics(clock)
    metrics.config_loaded(len(loaded.rules), len(loaded.issues), reload=False)
    metrics.alerts = lambda: list(ev.state.alerts.values())
    routing = getattr(args, "routing", None) if getattr(ev, "dispatcher", None) else None
    if getattr(ev, "dispatcher", None) is not None:
        metrics.outbox = ev.dispatcher.outbox.counts_by_receiver
        metrics.receivers = ev.dispatcher.receiver_health
        _report_every(ev.dispatcher, options["interval"])
    if routing:
        metrics.routing_loaded(0, reload=False)
    wake = stop.wake
    watch = ConfigWatch(args.paths, routing, wake)
    server = None
    if options.get("listen"):
        host, port = options["listen"]
        try:
            server = serve(metrics, host, port, reload=lambda: _answer_reload(watch))
        except OSError as exc:
            raise SystemExit(f"rules run: --listen {host}:{port}: {exc.strerror or exc}") from None
        log.info("rules run: metrics on http://%s:%d/metrics", host, port)
    hangup = _on_sighup(wake)
    stop.started()
    log.info("rules run: %d rule(s), tick every %s", len(loaded.rules), args.interval)
    ticks = 0
    told: set[str] = set()
    transitions = Transitions()
    try:
        while not stop.signal:
            now = clock.now()
            slot = datetime.fromtimestamp((now.timestamp() // interval) * interval, now.tzinfo)
            started = clock.monotonic()
            report = ev.tick(slot)  # its alerts are handed over; delivery runs beside it
            ticks += 1
            took = clock.monotonic() - started
            metrics.tick_done(report, took)
            for note in no_rows_notes(report.no_rows):  # once per note and process
                if note not in told:
                    log.warning("%s", note)
                    told.add(note)
            for k in sorted(set(report.unmatched) - told):  # once per rule and process
                log.warning("%s: %s", k, unmatched_note())
                told.add(k)
            for k, why in sorted(report.not_judged.items()):
                if f"{k} not judged" not in told:
                    log.warning("%s: not judged: %s", k, why)
                    told.add(f"{k} not judged")
            _print_alerts(transitions.changed(report.incidents), slot)
            pending = pending_count(list(ev.state.alerts.values()))
            log.info("%s", tick_summary(report, pending, took))
            if args.max_ticks and ticks >= args.max_ticks:
                if delivery is not None:  # a bounded run delivers what its ticks found
                    delivery.stop()
                    delivery = None
                    ev.dispatcher.flush(clock.now())
                return 0
            next_slot = slot.timestamp() + interval
            while not stop.signal:
                # until the next slot (at least one look, even after a tick that overran its
                # slot): an edited file, a SIGHUP or a POST /-/reload reloads on the way
                due = watch.due()
                if due:
                    ev, loaded = _reload_due(args, due, watch, loaded, store, clock, ev, metrics)
                left = next_slot - clock.now().timestamp()
                if left <= 0:
                    break
                wake.wait(min(left, RELOAD_CHECK_SECONDS))
        if delivery is not None:  # the attempts under way end, and are marked, first
            delivery.stop()
            delivery = None
        log.info("rules run: %s: stopped after %d tick(s)", stop.signal, ticks)
        return 0
    except KeyboardInterrupt:
        log.info("rules run: stopped after %d tick(s)", ticks)
        return 0
    finally:
        hangup()
        watch.close("rules run is stopping: nothing was reloaded")
        if delivery is not None:
            delivery.stop()
        if server is not None:
            server.shutdown()
            server.server_close()


def _report_every(dispatcher: Any, interval: timedelta) -> None:
    """Tell ``dispatcher`` how often firing alerts are re-reported (once a tick), so a tick
    interval longer than the routing's ``resolve_timeout`` does not resolve and re-page
    every firing alert between two ticks; say so when it lengthens the timeout."""
    from modelhealth.alerting.pipeline import REPORTS_MISSED

    dispatcher.report_interval = interval
    routing = dispatcher.routing.resolve_timeout
    if dispatcher.resolve_timeout > routing:
        log.info(
            "resolve_timeout %s is shorter than %d ticks of --interval %s: an alert no longer"
            " reported resolves after %s", format_duration(routing), REPORTS_MISSED,
            format_duration(interval), format_duration(dispatcher.resolve_timeout),
        )  # fmt: skip


RELOAD_CHECK_SECONDS = 5.0
"""How often a waiting scheduler looks at its config files' stamps (a stat each)."""

RELOAD_ANSWER_SECONDS = 120.0
"""How long ``POST /-/reload`` waits for the loop (busy with a tick) to reload."""


def _answer_reload(watch: Any) -> tuple[int, str]:
    """``POST /-/reload``: have the loop reload everything; 200, or 500 with the errors."""
    result = watch.request(RELOAD_ANSWER_SECONDS)
    if result is None:
        return 503, (
            f"no reload within {RELOAD_ANSWER_SECONDS:.0f}s: the scheduler is busy with a"
            " tick; it reloads after it\n"
        )
    return (200 if result.ok else 500), result.text()


def _reload_due(
    args: argparse.Namespace,
    due: Any,
    watch: Any,
    loaded: LoadResult,
    store: Any,
    clock: Clock,
    ev: Any,
    metrics: Any,
) -> tuple[Any, LoadResult]:
    """Reload what ``due`` names (rule files, routing), then answer the reload requests
    waiting for it with every error found."""
    from modelhealth.rules.reload import ReloadResult

    errors: list[str] = []
    if due.rules:
        ev, loaded, rule_errors = _reload(args, loaded, store, clock, ev, metrics)
        errors.extend(rule_errors)
    if due.routing:
        errors.extend(_reload_routing(args.routing, ev.dispatcher, clock, metrics))
    watch.answer(due.tickets, ReloadResult(tuple(errors)))
    return ev, loaded


def _reload(
    args: argparse.Namespace,
    loaded: LoadResult,
    store: Any,
    clock: Clock,
    ev: Any,
    metrics: Any,
) -> tuple[Any, LoadResult, list[str]]:
    """Reload the rule files; on any failure keep the running rules and say why (the
    errors are returned too, for ``POST /-/reload``'s answer)."""
    from modelhealth.rules.reload import reload_rules

    try:
        fresh = reload_rules(args.paths, loaded)
        for note in fresh.notes:
            log.info("reload: %s", note)
        for issue in fresh.issues:
            log.error("reload: %s", issue)
        new_ev = _evaluator(args, fresh, store, clock, previous=ev) if fresh.rules else None
        # a detector that did not build is one rule's error (the evaluator logged it): the
        # rule runs on with the detector it had, and every other file's edit applies (it
        # failed the whole reload, so one damaged model held back every other edit)
        errors = [str(issue) for issue in fresh.issues]
        if new_ev is None or not new_ev.rules:
            log.error("reload: no rule loaded; the %d running rule(s) stay", len(loaded.rules))
            metrics.config_loaded(len(loaded.rules), len(fresh.issues), reload=True)
            return ev, loaded, errors or ["no rule loaded; the running rules stay"]
        if new_ev.ran_on:
            log.warning(
                "reload: %d rule(s) whose detector did not build (%s): the running rules stay"
                " for those, with their detector and alerts; every other rule reloaded",
                len(new_ev.ran_on), ", ".join(new_ev.ran_on),
            )  # fmt: skip
    except Exception as exc:  # a reload must never stop the scheduler
        log.exception("reload failed (%s); the running rules stay", exc)
        metrics.config_loaded(len(loaded.rules), max(1, len(loaded.issues)), reload=True)
        return ev, loaded, [f"reloading the rule files failed: {exc}; the running rules stay"]
    before = {(r.model, r.name): r.rule_id for r in loaded.rules}
    after = {(r.model, r.name): r.rule_id for r in fresh.rules}
    edited = sum(1 for k, rid in after.items() if k in before and before[k] != rid)
    log.info(
        "reloaded rule files: %d rule(s) (%d added, %d edited, %d removed), %d error(s)",
        len(fresh.rules), len(after.keys() - before.keys()), edited,
        len(before.keys() - after.keys()), len(fresh.issues),
    )  # fmt: skip
    metrics.config_loaded(len(fresh.rules), len(fresh.issues), reload=True)
    metrics.alerts = lambda: list(new_ev.state.alerts.values())
    _adopt(new_ev)
    return new_ev, fresh, errors


def _adopt(ev: Any) -> None:
    """Point the shared dispatcher at ``ev``'s reference profiles, once a reload runs ``ev``
    (its notifications' drift plots read them); built but not adopted, ``ev`` changes
    nothing the running evaluator uses."""
    dispatcher = getattr(ev, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.references = ev.references


def _reload_routing(path: str, dispatcher: Any, clock: Clock, metrics: Any) -> list[str]:
    """Reload the routing file into the running ``dispatcher`` (see
    ``Dispatcher.reconfigure``); a file that does not load, or a receiver that cannot be
    built from it, keeps the running routing. Returns the errors (file:line:col: ...)."""
    from modelhealth.alerting.pipeline import build_receivers
    from modelhealth.alerting.routing import load_routing

    try:
        routing = load_routing(path)
        receivers = build_receivers(routing)  # reads the environment variables it names now
        change = dispatcher.reconfigure(routing, receivers, clock.now())
    except ConfigError as exc:
        errors = [str(issue) for issue in exc.issues]
    except Exception as exc:  # a reload must never stop the scheduler
        log.exception("reloading %s failed", path)
        errors = [f"{path}: reloading failed: {type(exc).__name__}: {exc}"]
    else:
        _warn_unset({n: receivers.notifiers[n] for n in (*change.added, *change.rebuilt)})
        log.info("reloaded routing %s: %s", path, change.describe())
        metrics.routing_loaded(0, reload=True)
        return []
    for error in errors:
        log.error("reload: %s", error)
    log.error("reload: %s did not load (%d error(s)); the running routing stays", path,
              len(errors))  # fmt: skip
    metrics.routing_loaded(len(errors), reload=True)
    return errors


class _StoppedStarting(BaseException):
    """SIGTERM or SIGINT while ``rules run`` starts (its message: the signal's name). A
    BaseException, as KeyboardInterrupt, so no ``except Exception`` on the way swallows it."""


class _StopRequest:
    """SIGTERM and SIGINT end ``rules run``, as Prometheus stops on either; installed first
    thing (:func:`rules_main`).

    While it starts (imports, loading the rules, opening the store and the alerting
    database) a signal stops it at once (:class:`_StoppedStarting`): nothing is under way
    that must finish. Once the loop runs (:meth:`started`) the tick under way finishes (its
    alerts handed over and saved), the loop ends, and delivery finishes the attempts under
    way before the process exits 0: SIGTERM (what systemd, Kubernetes and ``docker stop``
    send) used to kill the process at once, so a notification the receiver had already
    accepted was never marked sent, and the next start sent it again. A second signal
    stops at once (KeyboardInterrupt), for an operator who will not wait for a slow tick."""

    def __init__(self) -> None:
        self.signal = ""
        """The name of the signal that asked the loop to stop ("" until one did)."""
        self.wake = threading.Event()
        """Set by a signal, to end the loop's wait for the next slot at once."""
        self._starting = True
        self._before: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._before[sig] = signal.signal(sig, self._handle)

    def started(self) -> None:
        """The loop runs: from now on a signal ends it between ticks."""
        self._starting = False

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._starting:
            raise _StoppedStarting(name)
        if self.signal:
            raise KeyboardInterrupt
        self.signal = name
        self.wake.set()  # out of the wait for the next slot now

    def undo(self) -> None:
        """Give the signals back their previous handlers."""
        for sig, before in self._before.items():
            signal.signal(sig, before)
        self._before.clear()


def _on_sighup(wake: threading.Event) -> Callable[[], None]:
    """Make SIGHUP wake the loop to reload (Prometheus' convention); returns the undo."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return lambda: None
    before = signal.signal(signal.SIGHUP, lambda *_: wake.set())
    return lambda: signal.signal(signal.SIGHUP, before)


def _backtest(args: argparse.Namespace, loaded: LoadResult, options: dict[str, Any]) -> int:
    from modelhealth.rules import backtest as replay

    too_many = replay.tick_budget_problem(options["since"], options["step"], args.max_ticks)
    if too_many:  # before the store is opened: hundreds of millions of ticks never finish
        print(f"rules backtest: --since {args.since} --step {args.step} {too_many}",
              file=sys.stderr)  # fmt: skip
        return 2
    store = open_store(args, read_only=True)
    try:
        if "until" in options:
            end = options["until"]
        else:
            span = store.time_range()
            if span is None:
                print("rules backtest: the store holds no rows", file=sys.stderr)
                return 1
            end = from_epoch_ms(span[1] + 1)
        step = options["step"]
        end = datetime.fromtimestamp(
            (end.timestamp() // step.total_seconds()) * step.total_seconds(), end.tzinfo
        )
        start = end - options["since"]
        print(
            f"backtest {len(loaded.rules)} rule(s) from {start.isoformat()} to "
            f"{end.isoformat()} every {format_duration(step)}"
        )
        result = replay.backtest(loaded.rules, store, start, end, step)
    finally:
        store.close()
    for f in result.firings:
        print(f.describe())
    print(f"{len(result.firings)} firing(s) over {result.ticks} ticks, {result.queries} queries")
    for k, err in sorted(result.errors.items()):
        print(f"error: {k}: {err}", file=sys.stderr)
    return 1 if result.errors else 0


def main() -> None:  # pragma: no cover - `python -m modelhealth.rules.cli`
    raise SystemExit(rules_main(sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    main()
