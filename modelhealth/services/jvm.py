"""Bring the local Kafka + Pinot JVMs up and down: ``modelhealth services up|down|status|fetch``.

Start order follows the dependencies: Kafka and ZooKeeper first, then the Pinot controller (it
registers the cluster in ZooKeeper), then broker and server, which join that cluster. ``up`` is
idempotent: services already running are left alone, so tests and developers can share one set.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modelhealth.services import decoder, kafka, pinot, ports
from modelhealth.services.fetch import fetch_all
from modelhealth.services.paths import ServicesError, run_dir, tail
from modelhealth.services.process import (
    ServiceSpec,
    Stopped,
    exited,
    finish_stop,
    port_open,
    rss_mb,
    running_pid,
    start,
    terminate,
)

Log = Callable[[str], None]

#: (services to start, services to wait for) per stage.
_STAGES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    ((kafka.NAME, pinot.ZOOKEEPER), (pinot.ZOOKEEPER,)),
    ((pinot.CONTROLLER,), (pinot.CONTROLLER,)),
    ((pinot.BROKER, pinot.SERVER), (pinot.BROKER, pinot.SERVER, kafka.NAME)),
)
_PROGRESS_EVERY = 10.0


def _log(message: str) -> None:
    print(message, flush=True)


def default_timeout() -> float:
    """Seconds ``up`` waits overall (``$MODELHEALTH_SERVICES_TIMEOUT``, default 300); junk
    there is a ``ServicesError`` naming the variable, not a ``float()`` traceback."""
    raw = os.environ.get("MODELHEALTH_SERVICES_TIMEOUT", "").strip() or "300"
    try:
        return _seconds(raw, allow_zero=False)
    except argparse.ArgumentTypeError as exc:
        raise ServicesError(f"MODELHEALTH_SERVICES_TIMEOUT: {exc}") from None


def _seconds(text: str, *, allow_zero: bool) -> float:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``): ``up --timeout 0``
    started the JVMs and failed at once leaving them running, ``down --timeout -1`` said a
    service was "still running -1s after SIGTERM"."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise argparse.ArgumentTypeError(f"expected seconds, a number {least}, got {text!r}")
    return value


def _up_seconds(text: str) -> float:
    return _seconds(text, allow_zero=False)


def _down_seconds(text: str) -> float:
    return _seconds(text, allow_zero=True)


def all_specs() -> list[ServiceSpec]:
    """Every managed service, in start order."""
    return [kafka.spec(), *pinot.specs()]


def service_names() -> list[str]:
    return [spec.name for spec in all_specs()]


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``status`` sees it. ``external``: healthy but not started by us."""

    name: str
    address: str
    pid: int | None
    healthy: bool
    rss_mb: float | None

    @property
    def external(self) -> bool:
        return self.healthy and self.pid is None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise ``up``/``down`` across processes (two test sessions, a dev and CI)."""
    run_dir().mkdir(parents=True, exist_ok=True)
    with (run_dir() / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def status() -> dict[str, ServiceStatus]:
    """Current state of every service, keyed by name."""
    result: dict[str, ServiceStatus] = {}
    for spec in all_specs():
        pid = running_pid(spec.name)
        result[spec.name] = ServiceStatus(
            name=spec.name,
            address=f"{ports.HOST}:{spec.port}",
            pid=pid,
            healthy=spec.healthy(),
            rss_mb=rss_mb(pid) if pid else None,
        )
    return result


def is_up() -> bool:
    """True when every service answers its health check."""
    return all(s.healthy for s in status().values())


def _failure(spec: ServiceSpec, why: str) -> ServicesError:
    return ServicesError(
        f"{spec.name} {why}\n--- tail of {spec.log_file} ---\n{tail(spec.log_file)}\n"
        f"--- tail of {spec.out_file} ---\n{tail(spec.out_file, 15)}\n"
        "(services already started are left running for inspection; "
        "`modelhealth services down` stops them)"
    )


def _ensure_started(spec: ServiceSpec, started: dict[str, float], log: Log) -> None:
    pid = running_pid(spec.name)
    if pid is not None:
        log(f"{spec.name}: already running (pid {pid})")
        return
    if spec.healthy():
        log(f"{spec.name}: already served on {ports.HOST}:{spec.port} by a process "
            "modelhealth did not start; using it")  # fmt: skip
        return
    if port_open(ports.HOST, spec.port):
        raise ServicesError(
            f"{spec.name}: port {spec.port} is in use by another program; free it or set the "
            "MODELHEALTH_*_PORT variable (see modelhealth/services/ports.py)"
        )
    pid = start(spec)
    started[spec.name] = time.monotonic()
    log(f"{spec.name}: starting (pid {pid}, heap {spec.heap}, log {spec.log_file})")


def _wait(
    specs: list[ServiceSpec], started: dict[str, float], deadline: float, log: Log
) -> dict[str, float]:
    """Poll until each spec is healthy; raise with its log tail if it dies or time runs out."""
    pending = {spec.name: spec for spec in specs}
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    next_progress = t0 + _PROGRESS_EVERY
    while pending:
        for name, spec in list(pending.items()):
            if name in started and running_pid(name) is None:
                raise _failure(spec, "exited during startup")
            if name not in started and running_pid(name) is None and not spec.healthy():
                # found "already running" but it was on its way out (killed, crashed):
                # waiting for it to become healthy waited out the whole timeout
                pid = start(spec)
                started[name] = time.monotonic()
                log(f"{name}: had exited; starting it again (pid {pid})")
            if spec.healthy():
                del pending[name]
                if name in started:
                    took = time.monotonic() - started[name]
                    timings[name] = took
                    pid = running_pid(name)
                    rss = rss_mb(pid) if pid else None
                    rss_text = f", rss {rss:.0f} MB" if rss else ""
                    log(f"{name}: up after {took:.1f}s{rss_text}")
        if not pending:
            break
        now = time.monotonic()
        if now > deadline:
            spec = next(iter(pending.values()))
            raise _failure(spec, "did not become healthy before the timeout")
        if now >= next_progress:
            log(f"waiting for {', '.join(pending)} ({now - t0:.0f}s)…")
            next_progress = now + _PROGRESS_EVERY
        time.sleep(0.5)
    return timings


def up(timeout: float | None = None, log: Log = _log) -> dict[str, float]:
    """Fetch jars if needed, start every service not yet running and wait until all are healthy.

    Returns the startup seconds of the services this call started (empty if all were up).
    """
    decoder_changed = not decoder.is_built()
    fetch_all(log=log)
    if decoder_changed and running_pid(pinot.SERVER) is not None:
        log(f"note: {pinot.SERVER} runs with the previous decoder jar; "
            "`modelhealth services down` then `up` loads the new one")  # fmt: skip
    deadline = time.monotonic() + (timeout if timeout is not None else default_timeout())
    by_name = {spec.name: spec for spec in all_specs()}
    started: dict[str, float] = {}
    timings: dict[str, float] = {}
    with _locked():
        for to_start, to_wait in _STAGES:
            for name in to_start:
                _ensure_started(by_name[name], started, log)
            timings.update(_wait([by_name[n] for n in to_wait], started, deadline, log))
    log(f"all services up: kafka {ports.KAFKA_BOOTSTRAP}, pinot controller "
        f"{ports.PINOT_CONTROLLER_URL}, broker {ports.PINOT_BROKER_URL}")  # fmt: skip
    return timings


#: Services stopped together, stage by stage: leaves first (nothing depends on the broker or
#: the server), then the controller, then what everything used (ZooKeeper, Kafka).
_STOP_STAGES: tuple[tuple[str, ...], ...] = (
    (pinot.SERVER, pinot.BROKER),
    (pinot.CONTROLLER,),
    (pinot.ZOOKEEPER, kafka.NAME),
)
#: Seconds a service gets after SIGTERM before SIGKILL (``services down --timeout``). Every
#: JVM here exits in 1-5 s once Pinot's drain delays are off (see :mod:`.pinot`); a longer
#: wait only ever meant waiting out a shutdown that was not going to finish.
DEFAULT_STOP_GRACE_S = 15.0


def _stop_stage(names: tuple[str, ...], grace: float, log: Log) -> dict[str, Stopped]:
    """SIGTERM every running service of ``names`` at once, then reap them (SIGKILL past
    ``grace``): their shutdowns overlap, so a stage takes as long as its slowest member."""
    started = time.monotonic()
    pids = {name: pid for name in names if (pid := terminate(name)) is not None}
    for name in names:
        if name not in pids:
            log(f"{name}: not running")
    outcomes: dict[str, Stopped] = {}
    pending = dict(pids)
    while pending:  # in exit order, so each line says when that service really went
        for name, pid in list(pending.items()):
            if exited(pid) or time.monotonic() >= started + grace:
                outcomes[name] = finish_stop(name, pid, started + grace)
                del pending[name]
                log(_stopped_line(name, outcomes[name], time.monotonic() - started, grace))
        time.sleep(0.1 if pending else 0)
    return outcomes


def _stopped_line(name: str, how: Stopped, took: float, grace: float) -> str:
    if how is Stopped.KILLED:
        return f"{name}: still running {grace:.0f}s after SIGTERM; killed (SIGKILL)"
    return f"{name}: stopped ({took:.1f}s)"


def down(
    timeout: float = DEFAULT_STOP_GRACE_S, purge: bool = False, log: Log = _log
) -> dict[str, Stopped]:
    """Stop the services we started (reverse start order); ``purge`` also deletes their data.

    Only processes recorded in our pid files are signalled: SIGTERM, then SIGKILL for one
    still running ``timeout`` s later. Returns how each running service went down; the ones
    that had to be killed are also named in the last line logged.
    """
    started = time.monotonic()
    outcomes: dict[str, Stopped] = {}
    with _locked():
        for names in _STOP_STAGES:
            outcomes.update(_stop_stage(names, timeout, log))
        if purge:
            for sub in ("kafka", "pinot"):
                shutil.rmtree(run_dir() / sub, ignore_errors=True)
            log(f"purged data under {run_dir()}")
    killed = [name for name, how in outcomes.items() if how is Stopped.KILLED]
    summary = f"stopped {len(outcomes)} service(s) in {time.monotonic() - started:.1f}s"
    log(f"{summary}; killed after {timeout:.0f}s: {', '.join(killed)}" if killed else summary)
    return outcomes


def _print_status(log: Log) -> bool:
    states = status()
    for s in states.values():
        if s.healthy and s.pid is not None:
            rss = f"  rss {s.rss_mb:.0f} MB" if s.rss_mb else ""
            log(f"{s.name:<17} up    {s.address:<16} pid {s.pid}{rss}")
        elif s.healthy:
            log(f"{s.name:<17} up    {s.address:<16} (not started by modelhealth)")
        elif s.pid is not None:
            log(f"{s.name:<17} down  {s.address:<16} pid {s.pid} running but not healthy")
        else:
            log(f"{s.name:<17} down  {s.address}")
    return all(s.healthy for s in states.values())


def main(argv: list[str] | None = None) -> int:
    """CLI entry: ``up``, ``down``, ``status`` (exit 1 unless all up), ``fetch``."""
    parser = argparse.ArgumentParser(
        prog="modelhealth services", description="Local Kafka + Pinot JVMs for modelhealth."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="download jars if needed, start all, wait until healthy")
    p_up.add_argument(
        "--timeout",
        type=_up_seconds,
        default=None,
        help="seconds to wait for all services (default $MODELHEALTH_SERVICES_TIMEOUT or 300)",
    )
    p_down = sub.add_parser("down", help="stop the services started by modelhealth")
    p_down.add_argument(
        "--timeout",
        type=_down_seconds,
        default=DEFAULT_STOP_GRACE_S,
        help="seconds each service gets after SIGTERM before SIGKILL "
        f"(default {DEFAULT_STOP_GRACE_S:.0f})",
    )
    p_down.add_argument("--purge", action="store_true", help="also delete Kafka/Pinot data")
    sub.add_parser("status", help="print each service up/down")
    sub.add_parser("fetch", help="download the jars only")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(timeout=args.timeout)
        elif args.command == "down":
            down(timeout=args.timeout, purge=args.purge)
        elif args.command == "status":
            return 0 if _print_status(_log) else 1
        elif args.command == "fetch":
            fetch_all(log=_log)
    except ServicesError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
