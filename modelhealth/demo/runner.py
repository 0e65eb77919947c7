"""``modelhealth demo``: the whole product on a laptop, no services needed.

Backfills a few simulated days for a fleet of four models, replays the last minutes through
the rules engine so ``for:`` timers are warm, then keeps producing live traffic while the
rules evaluate on a schedule, a local SMTP server catches the alert emails into a mailbox
folder, and the dashboard reads a snapshot of the store.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType

import numpy as np

from modelhealth.clock import SystemClock, to_epoch_ms
from modelhealth.demo import wiring
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.incidents import INCIDENTS
from modelhealth.demo.learned import with_learned_rules
from modelhealth.demo.progress import Progress
from modelhealth.demo.traffic import backfill, emit
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore


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
    p.add_argument("--days", type=float, default=3.0, help="simulated days to backfill")
    p.add_argument("--out", default="demo-output", help="folder for db, mailbox, state")
    p.add_argument(
        "--rules",
        default=None,
        help="alert config folder (default: a copy of examples/rules plus learned rules)",
    )
    p.add_argument("--backend", choices=["duckdb", "pinot"], default="duckdb")
    p.add_argument("--tick", type=float, default=15.0, help="seconds between rule evaluations")
    p.add_argument("--no-dashboard", action="store_true", help="do not start Streamlit")
    p.add_argument("--dashboard-port", type=int, default=8501)
    p.add_argument("--seed", type=int, default=1)
    return p


EXAMPLES = Path(__file__).resolve().parent / "examples"
"""The example configs (rules, references, contract, routing), shipped as package data;
``examples/`` at the repo root is a symlink to this folder, so a source checkout and an
installed package (``pip install .``, the Docker image) read the same files."""
MARKER = ".modelhealth-demo"
"""Written into every output folder the demo makes: only such a folder (or an empty one) is
ever cleaned for a new run."""


def default_rules_dir() -> Path:
    return EXAMPLES / "rules"


class DemoError(Exception):
    """A problem with the demo's arguments or output folder, found before any work."""


def check_args(args: argparse.Namespace) -> None:
    """Reject values that make no sense before anything is written or computed."""
    if not (math.isfinite(args.tick) and args.tick > 0):
        raise DemoError(f"--tick must be a positive number of seconds, got {args.tick}")
    if not (math.isfinite(args.days) and args.days > 0):
        raise DemoError(f"--days must be a positive number of days, got {args.days}")
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
    any other folder is refused, so ``--out .`` or ``--out ~`` can never wipe it."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise DemoError(
            f"--out {out}: folder is not empty and was not made by `modelhealth demo` "
            f"(no {MARKER} file); choose another --out, or empty or remove it yourself"
        )


def prepare_out(out: Path) -> None:
    """Empty (or create) the folder :func:`check_out` accepted and mark it as the demo's."""
    check_out(out)
    if out.is_dir():
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "Made by `modelhealth demo`: the next demo run with this --out deletes everything here.\n"
    )


class _Stop:
    """Turns SIGINT/SIGTERM into a flag so the live loop ends cleanly."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second Ctrl-C: leave now
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping (Ctrl-C again to force)…", flush=True)


def demo_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out).expanduser().resolve()
    try:  # every check before any work: nothing is deleted or computed for a bad argument
        check_args(args)
        check_out(out)
        check_rules(args.rules, out)
        prepare_out(out)
    except DemoError as exc:
        print(f"modelhealth demo: error: {exc}", file=sys.stderr, flush=True)
        return 2
    (out / "references").mkdir()
    (out / "state").mkdir()
    clock = SystemClock()
    say: Callable[[str], None] = lambda msg: print(msg, flush=True)  # noqa: E731

    models = fleet()
    refs = {}
    for name, model in models.items():
        refs[name] = build_reference(name, *training_sample(model))
        refs[name].save(out / "references" / f"{name}.json")

    backend = wiring.open_backend(args.backend, out)
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
    dash = (
        None
        if args.no_dashboard
        else wiring.start_dashboard(
            snapshot, rules_dir, out / "state", args.dashboard_port, pinot=backend.pinot_url
        )
    )
    problem = (
        wiring.dashboard_started(dash, args.dashboard_port, out / "state" / "dashboard.log")
        if dash
        else ""
    )
    if problem:
        dash = None
    try:  # the dashboard is running: Ctrl-C or a failure before the main loop must stop it
        alerting = wiring.start_alerting(
            out, backend.store, refs, wiring.dashboard_url(dash is not None, args.dashboard_port)
        )
        mailbox, dispatcher = alerting.mailbox, alerting.dispatcher
        state = AlertStateStore(out / "state" / "alerts.json")
        evaluator = Evaluator(
            loaded.rules, backend.store, references=refs, state=state, clock=clock
        )
        for minute in range(15, 0, -1):  # warm `for:` timers from recent history, quietly
            evaluator.tick(t0 - timedelta(minutes=minute))
        evaluator.notify = dispatcher
        report = evaluator.tick(t0)
        dispatcher.flush(t0)
        say(
            f"rules: {len(loaded.rules)} loaded from {rules_dir}, {len(report.firing)} firing "
            f"at t0 ({report.queries} store queries)"
        )

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
        say(f"  pager     : {alerting.pager.path}  (PagerDuty Events v2 payloads)")
        say(f"  alert log : {out / 'state' / 'history.jsonl'}")
        say(
            "live traffic running; Ctrl-C to stop."
            if args.duration is None
            else f"live traffic for {args.duration:.0f}s…"
        )
    except BaseException:
        if dash is not None:
            dash.terminate()
        raise

    stop = _Stop()
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
    except KeyboardInterrupt:
        pass
    finally:
        monitor.flush()
        now = clock.now()
        dispatcher.flush(now)
        backend.publish_snapshot(out)
        emails = mailbox.messages()
        if dash is not None:
            dash.terminate()
            try:
                dash.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dash.kill()
        pages = alerting.pager.events()
        alerting.stop()
        backend.close()
    say(
        f"done: {live_events:,} live events, {len(emails)} emails in {mailbox.folder}, "
        f"{len(pages)} pager events in {alerting.pager.path}"
    )
    for msg in emails[:20]:
        say(f"  - {msg['Subject']}")
    return 0


if __name__ == "__main__":
    sys.exit(demo_main())
