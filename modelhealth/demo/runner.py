"""``modelhealth demo``: the whole product on a laptop, no services needed.

Backfills a few simulated days for a fleet of four models, replays the rules quietly over
the hours holding the injected incidents (so alerts open when their incident did), then
keeps producing live traffic while the rules evaluate on a schedule, a local SMTP server
catches the alert emails into a mailbox folder, and the dashboard reads a snapshot of the
store.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

import numpy as np

from modelhealth.clock import SystemClock, to_epoch_ms
from modelhealth.demo import wiring
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.incidents import INCIDENTS
from modelhealth.demo.learned import with_learned_rules
from modelhealth.demo.progress import Progress
from modelhealth.demo.traffic import backfill, emit
from modelhealth.demo.warmup import warm_up
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore

MAX_DAYS = 30.0
"""Upper bound of ``--days``: about 260k events a simulated day, so 30 days is ~8M events,
a few minutes of backfill and a snapshot of a few hundred MB on a laptop. Longer is no
better a demo (the learned rule looks back about 22 days) and ``--days 1000`` meant hours."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelhealth demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of live traffic before stopping (default: until Ctrl-C)",
    )
    p.add_argument(
        "--days",
        type=float,
        default=3.0,
        help=f"simulated days to backfill (default 3, at most {MAX_DAYS:.0f})",
    )
    p.add_argument(
        "--out", default="demo-output", help="folder for db, mailbox, state (default demo-output)"
    )
    p.add_argument(
        "--rules",
        default=None,
        help="alert config folder (default: a copy of examples/rules plus learned rules)",
    )
    p.add_argument(
        "--backend",
        choices=["duckdb", "pinot"],
        default="duckdb",
        help="duckdb: an embedded store, no services (default); pinot: Kafka + Pinot, "
        "started first with `modelhealth services up`",
    )
    p.add_argument(
        "--tick", type=float, default=15.0, help="seconds between rule evaluations (default 15)"
    )
    p.add_argument("--no-dashboard", action="store_true", help="do not start Streamlit")
    p.add_argument("--dashboard-port", type=int, default=8501, help="(default 8501)")
    p.add_argument("--seed", type=int, default=1, help="of the simulated fleet (default 1)")
    return p


EXAMPLES = Path(__file__).resolve().parent / "examples"
"""The example configs (rules, references, contract, routing), shipped as package data;
``examples/`` at the repo root is a symlink to this folder, so a source checkout and an
installed package (``pip install .``, the Docker image) read the same files."""
MARKER = ".modelhealth-demo"
"""Written into every output folder the demo makes: only such a folder (or an empty one) is
ever cleaned for a new run."""
LOCK = ".modelhealth-demo.lock"
"""In every output folder, locked (``flock``) for a demo's lifetime: a second demo on the
same --out refuses instead of emptying the folder under the first one. Never deleted (an
unlinked lock file would let two demos lock different files)."""


def default_rules_dir() -> Path:
    return EXAMPLES / "rules"


class DemoError(Exception):
    """A problem with the demo's arguments or output folder, found before any work."""


def check_args(args: argparse.Namespace) -> None:
    """Reject values that make no sense before anything is written or computed."""
    if not (math.isfinite(args.tick) and args.tick > 0):
        raise DemoError(f"--tick must be a positive number of seconds, got {args.tick}")
    if not (math.isfinite(args.days) and 0 < args.days <= MAX_DAYS):
        raise DemoError(f"--days must be more than 0 and at most {MAX_DAYS:.0f}, got {args.days}")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration >= 0):
        raise DemoError(f"--duration must be 0 or more seconds, got {args.duration}")
    if not 1 <= args.dashboard_port <= 65535:
        raise DemoError(f"--dashboard-port must be in 1-65535, got {args.dashboard_port}")


def check_rules(rules: str | None, out: Path) -> None:
    """The rules must load with at least one good rule (a broken one is reported later and
    skipped, as ``rules eval`` does); a missing folder or one without any is an error."""
    what = f"--rules {rules}" if rules else f"the example rules {default_rules_dir()}"
    path = Path(rules).expanduser() if rules else default_rules_dir()
    if not path.exists():
        raise DemoError(f"{what}: no such file or folder")
    if path.resolve().is_relative_to(out):
        raise DemoError(f"{what}: inside --out {out}, which the demo empties; copy it elsewhere")
    loaded = load_rules([path])
    if not loaded.rules:
        issue = str(loaded.issues[0]).splitlines()[0] if loaded.issues else ""
        first = f" (first problem: {issue})" if issue else ""
        raise DemoError(f"{what}: no valid rule found{first}")


def check_out(out: Path) -> None:
    """``out`` may be new, empty, or a folder an earlier demo made (it holds :data:`MARKER`):
    any other folder is refused, so ``--out .`` or ``--out ~`` can never wipe it. A new
    ``out`` needs a folder to be created in (``--out afile/sub`` used to be a traceback)."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out}: exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DemoError(f"--out {out}: {ancestor} is not a folder, so it cannot be created")
    if not out.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise DemoError(f"--out {out}: cannot create it, {ancestor} is not writable")
    if out.is_dir() and any(e.name != LOCK for e in out.iterdir()) and not (out / MARKER).is_file():
        raise DemoError(
            f"--out {out}: folder is not empty and was not made by `modelhealth demo` "
            f"(no {MARKER} file); choose another --out, or empty or remove it yourself"
        )


def lock_out(out: Path) -> IO[str]:
    """Create ``out`` if needed and hold its :data:`LOCK` (released when the returned file is
    closed, or the process ends however it ends); a second demo on ``out`` gets a DemoError
    naming the first one's pid before anything in the folder is touched."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = (out / LOCK).open("a+")
    except OSError as exc:
        raise DemoError(f"--out {out}: cannot create it: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise DemoError(
            f"--out {out}: another `modelhealth demo` (pid {holder}) is using this folder; "
            "stop it or choose another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def prepare_out(out: Path) -> None:
    """Empty (or create) the folder :func:`check_out` accepted and mark it as the demo's
    (the caller holds its :data:`LOCK`, which stays)."""
    check_out(out)
    if out.is_dir():
        for entry in out.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "Made by `modelhealth demo`: the next demo run with this --out deletes everything here.\n"
    )


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during start-up; a KeyboardInterrupt so that code which lets
    Ctrl-C through lets this through too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Stop:
    """SIGINT/SIGTERM stop the demo cleanly at any moment, with exit code 128 + signal.

    Installed before any work: during start-up (backfill, training, dashboard start) the
    first signal raises :class:`Interrupted` where the main thread is, and the clean-up
    stops what was started. In the live loop (:attr:`graceful`) it only sets a flag the
    loop checks every second, so the last events are flushed; a second one raises. Once
    raised, further signals are only recorded: the clean-up they would cut short is what
    stops the demo. (SIGTERM used to kill the demo at once, orphaning its dashboard.)"""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.graceful = False
        self._raised = False
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def interrupted(self) -> bool:
        """Whether :class:`Interrupted` was raised: an exception after that comes from it
        (DuckDB, interrupted mid-query, raises ``RuntimeError: Query interrupted`` instead)."""
        return self._raised

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if self._raised:
            return
        if self.graceful and first:
            print("\nstopping (Ctrl-C again to force)…", flush=True)
            return
        self._raised = True
        raise Interrupted(signum)

    def exit_code(self) -> int:
        return 128 + self.signum if self.signum is not None else 0

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def _checks(args: argparse.Namespace, out: Path) -> None:
    """Every check before any work: nothing is deleted or computed for a bad argument."""
    check_args(args)
    check_out(out)
    check_rules(args.rules, out)
    if args.backend == "pinot":
        problem = wiring.check_pinot_services()
        if problem:
            raise DemoError(problem)


def demo_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out).expanduser().resolve()
    stop = _Stop()
    try:
        with contextlib.ExitStack() as cleanup:
            try:
                _checks(args, out)
                cleanup.enter_context(lock_out(out))  # held until the demo has stopped
                prepare_out(out)
            except DemoError as exc:
                print(f"modelhealth demo: error: {exc}", file=sys.stderr, flush=True)
                return 2
            _run(args, out, stop, cleanup)
    except (Interrupted, Exception) as exc:
        if not (isinstance(exc, Interrupted) or stop.interrupted):
            raise
        print(f"\nmodelhealth demo: stopped ({out})", file=sys.stderr, flush=True)
    finally:
        stop.restore()
    return stop.exit_code()


def _stop_dashboard(dash: subprocess.Popen[bytes]) -> None:
    dash.terminate()
    try:
        dash.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dash.kill()
        dash.wait()


def _run(args: argparse.Namespace, out: Path, stop: _Stop, cleanup: contextlib.ExitStack) -> None:
    """The demo itself, in a prepared ``out``; everything it starts is registered with
    ``cleanup`` at once, so an interruption anywhere stops exactly what is running."""
    (out / "references").mkdir()
    (out / "state").mkdir()
    clock = SystemClock()
    say: Callable[[str], None] = lambda msg: print(msg, flush=True)  # noqa: E731

    models = fleet()
    refs = {}
    for name, model in models.items():
        refs[name] = build_reference(name, *training_sample(model))
        refs[name].save(out / "references" / f"{name}.json")

    if args.backend == "pinot":
        say(wiring.pinot_tables_note())
    backend = wiring.open_backend(args.backend, out)
    cleanup.callback(backend.close)
    monitor = Monitor(backend.sink, refs, clock=clock)
    t0 = clock.now().replace(second=0, microsecond=0)
    say(f"modelhealth demo: {len(models)} models ({', '.join(models)}), backend {args.backend}")
    say(f"incidents on the timeline (t0 = demo start = {t0:%Y-%m-%d %H:%M} UTC):")
    for inc in INCIDENTS:
        hours = inc.start.total_seconds() / 3600
        say(f"  t0{hours:+.0f}h  {inc.title}  -> rule '{inc.expected_rule}'")

    bar = Progress("backfill", unit="h")
    started = time.monotonic()
    n = backfill(monitor, models, t0, args.days, seed=args.seed, progress=bar.update)
    bar.done(f"{n:,} events in {time.monotonic() - started:.1f}s")
    backend.wait_until_visible(n)

    if args.rules:
        rules_dir = Path(args.rules).expanduser()
    else:
        rules_dir = with_learned_rules(default_rules_dir(), out, models, say)
    loaded = load_rules([rules_dir])
    for issue in loaded.issues:
        say(f"config error: {issue}")
    # the dashboard first: notifications link to it only once it answers (with
    # --no-dashboard, or when it cannot start, a link would lead to a dead port)
    snapshot = backend.publish_snapshot(out)
    dash, problem = _dashboard(args, backend, snapshot, rules_dir, out, cleanup)
    alerting = start_alerting(
        out, backend.store, refs, wiring.dashboard_url(dash is not None, args.dashboard_port),
        args.tick,
    )  # fmt: skip
    cleanup.callback(alerting.stop)
    mailbox, dispatcher = alerting.mailbox, alerting.dispatcher
    state = AlertStateStore(out / "state" / "alerts.json")
    evaluator = Evaluator(loaded.rules, backend.store, references=refs, state=state, clock=clock)
    _replay_history(evaluator, t0, args.days, say)
    evaluator.notify = dispatcher
    report = evaluator.tick(t0)
    dispatcher.flush(t0)
    say(
        f"rules: {len(loaded.rules)} loaded from {rules_dir}, {len(report.firing)} firing "
        f"at t0 ({report.queries} store queries)"
    )

    alerts_db = out / "state" / "alerts.db"
    say("")
    say(
        f"  dashboard : http://127.0.0.1:{args.dashboard_port}"
        if dash
        else f"  dashboard : FAILED to start, {problem}"
        if problem
        else "  dashboard : (disabled)"
    )
    say(f"  mailbox   : {mailbox.folder}  (SMTP 127.0.0.1:{mailbox.port}; open the .eml files)")
    say(f"  database  : {snapshot or backend.describe()}")
    if snapshot is not None:
        later = wiring.dashboard_command(["--db", str(snapshot)], rules_dir, out / "state")
        say(f"  later     : {later}  (the dashboard on the last snapshot)")
    say(f"  pager     : {alerting.pager.path}  (PagerDuty Events v2 payloads)")
    say(f"  alert log : {out / 'state' / 'history.jsonl'}")
    say(f"  alerts db : {alerts_db}  (silences and notification log of this demo)")
    say(f"  silence   : modelhealth silence add model=fraud --for 2h -c 'why' --db {alerts_db}")
    if args.backend == "pinot":
        say(f"  pinot     : {wiring.pinot_banner(backend, rules_dir, out / 'state')}")
    say(
        "live traffic running; Ctrl-C to stop."
        if args.duration is None
        else f"live traffic for {args.duration:.0f}s…"
    )

    stop.graceful = True  # from here a signal ends the loop below, which flushes first
    rng = np.random.default_rng(args.seed + 1)
    t0_ms = to_epoch_ms(t0)
    # live traffic starts where the backfill ended (t0), not after the set-up above: a
    # minute or two without any request would show as an outage on the charts
    last_ms = t0_ms
    live_start = time.monotonic()
    next_tick = next_snapshot = live_start
    live_events = 0
    try:
        while not stop.requested:
            if args.duration is not None and time.monotonic() - live_start >= args.duration:
                break
            time.sleep(1.0)
            now = clock.now()
            now_ms = to_epoch_ms(now)
            for model in models.values():
                live_events += emit(monitor, model, last_ms, now_ms, t0_ms, rng)
            last_ms = now_ms
            if time.monotonic() >= next_tick:
                monitor.flush()
                report = evaluator.tick(now)
                dispatcher.flush(now)
                say(
                    f"[{now:%H:%M:%S}] +{live_events:,} live events, {len(report.firing)} "
                    f"firing, {len(mailbox.messages())} emails in mailbox"
                )
                next_tick += args.tick
            if time.monotonic() >= next_snapshot:
                backend.publish_snapshot(out)
                next_snapshot += 15.0
    except (Interrupted, Exception) as exc:  # a second signal: leave now, still flushing below
        if not (isinstance(exc, Interrupted) or stop.interrupted):
            raise
    monitor.flush()
    dispatcher.flush(clock.now())
    backend.publish_snapshot(out)
    emails = mailbox.messages()
    pages = alerting.pager.events()
    say(
        f"done: {live_events:,} live events, {len(emails)} emails in {mailbox.folder}, "
        f"{len(pages)} pager events in {alerting.pager.path}"
    )
    for msg in emails[:20]:
        say(f"  - {msg['Subject']}")


def _replay_history(
    evaluator: Evaluator, t0: datetime, days: float, say: Callable[[str], None]
) -> None:
    """Replay the rules quietly over the history holding the incidents (see
    :mod:`~modelhealth.demo.warmup`), so alerts open when their incident did, not at the
    first replayed minute; notifications start at t0, once the caller attaches them."""
    bar = Progress("rules replay", unit=" ticks")
    started = time.monotonic()
    ticks = warm_up(evaluator, t0, days, progress=bar.update)
    span = (t0 - ticks[0]).total_seconds() / 3600 if ticks else 0.0
    open_ = sum(1 for a in evaluator.state.alerts.values() if not a.is_resolved)
    bar.done(
        f"{len(ticks)} ticks over the last {span:.1f}h in {time.monotonic() - started:.1f}s, "
        f"{open_} alert(s) open before t0 (no notification before t0)"
    )


def start_alerting(
    out: Path, store: Any, refs: Any, dashboard_url: str, tick_s: float
) -> wiring.Alerting:
    """The demo's alerting (``wiring.start_alerting``), its dispatcher told that the rules
    re-report firing alerts once a ``--tick`` (as ``rules run`` tells it its ``--interval``),
    so a firing alert times out only after 4 ticks (``Dispatcher.resolve_timeout``). Without
    it, with ``--tick 600`` a flush more than the routing's 5m ``resolve_timeout`` after a
    tick (the one on stopping, for one) resolved every firing alert, and the next tick paged
    them all again."""
    alerting = wiring.start_alerting(out, store, refs, dashboard_url)
    alerting.dispatcher.report_interval = timedelta(seconds=tick_s)
    return alerting


def _dashboard(
    args: argparse.Namespace,
    backend: wiring.Backend,
    snapshot: Path | None,
    rules_dir: Path,
    out: Path,
    cleanup: contextlib.ExitStack,
) -> tuple[subprocess.Popen[bytes] | None, str]:
    """The dashboard child (registered with ``cleanup`` before it is waited for) and "",
    or None and why it is not running ("" with --no-dashboard)."""
    if args.no_dashboard:
        return None, ""
    if wiring.port_taken(args.dashboard_port):
        return None, (
            f"port {args.dashboard_port} is already in use by another program "
            "(pass --dashboard-port with a free port)"
        )
    dash = wiring.start_dashboard(
        snapshot,
        rules_dir,
        out / "state",
        args.dashboard_port,
        pinot=backend.pinot_url,
        namespace=backend.pinot_namespace,
    )
    if dash is None:
        return None, ""
    cleanup.callback(_stop_dashboard, dash)
    problem = wiring.dashboard_started(dash, args.dashboard_port, out / "state" / "dashboard.log")
    return (None, problem) if problem else (dash, "")


if __name__ == "__main__":
    sys.exit(demo_main())
