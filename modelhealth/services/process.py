"""Start, identify and stop the service JVMs by their own recorded PIDs.

Each JVM gets a ``-Dmodelhealth.service=<name>`` tag on its command line and a pid file; a pid is
trusted only while /proc shows that tag, so a recycled PID is never signalled. Processes start in
their own session so Ctrl-C in the terminal that ran ``up`` does not take them down.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelhealth.services.paths import find_java, lib_dir, logs_dir, pids_dir

#: Flags Pinot's and Kafka's own launch scripts use on JDK > 11 (Netty, Chronicle, reflection).
ADD_OPENS: tuple[str, ...] = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
)


@dataclass
class ServiceSpec:
    """How to launch and probe one JVM service."""

    name: str
    component: str
    main_class: str
    args: list[str]
    heap: str
    port: int
    healthy: Callable[[], bool]
    jvm_flags: list[str] = field(default_factory=list)
    prepare: Callable[[], None] | None = None
    #: Jars after ``lib/*`` (Pinot: modelhealth's own stream decoder, built from source).
    extra_classpath: list[Path] = field(default_factory=list)

    @property
    def log_file(self) -> Path:
        """The service's own log (log4j2 file appender); stdout/stderr go to ``out_file``."""
        return logs_dir() / f"{self.name}.log"

    @property
    def out_file(self) -> Path:
        return logs_dir() / f"{self.name}.out"

    def argv(self) -> list[str]:
        return [
            find_java(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dmodelhealth.service={self.name}",
            *ADD_OPENS,
            *self.jvm_flags,
            "-cp",
            os.pathsep.join([str(lib_dir(self.component) / "*"), *map(str, self.extra_classpath)]),
            self.main_class,
            *self.args,
        ]


def _pid_file(name: str) -> Path:
    return pids_dir() / f"{name}.pid"


def _owns(pid: int, name: str) -> bool:
    """True if ``pid`` is alive and is our JVM for ``name`` (checked via its command line)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # not Linux: trust the pid file
        return True
    try:
        raw = cmdline.read_bytes()
    except OSError:
        return False
    if not raw:
        # Empty for a zombie, and also for a moment right after fork/exec: trust the pid file
        # unless the process is already dead.
        return not _is_zombie(pid)
    return f"-Dmodelhealth.service={name}".encode() in raw.split(b"\0")


def running_pid(name: str) -> int | None:
    """PID of our running ``name`` JVM, or None (stale pid files are removed)."""
    path = _pid_file(name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if _owns(pid, name):
        return pid
    path.unlink(missing_ok=True)
    return None


def start(spec: ServiceSpec) -> int:
    """Launch ``spec`` in the background, record its pid and return it."""
    logs_dir().mkdir(parents=True, exist_ok=True)
    pids_dir().mkdir(parents=True, exist_ok=True)
    if spec.prepare is not None:
        spec.prepare()
    with spec.out_file.open("ab") as out:
        proc = subprocess.Popen(
            spec.argv(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _pid_file(spec.name).write_text(f"{proc.pid}\n")
    return proc.pid


def exited(pid: int) -> bool:
    """True once ``pid`` is gone; reaps it if it is our child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").exists() and _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


#: Seconds to wait for the kernel to reap a SIGKILLed process (it only has to unmap memory).
KILL_WAIT_S = 10.0


class Stopped(enum.Enum):
    """How a service went down: on its own after SIGTERM, or killed when it outlived its grace."""

    TERMINATED = "stopped"
    KILLED = "killed"


def terminate(name: str) -> int | None:
    """Send SIGTERM to our ``name`` JVM; its pid, or None if it was not running.

    Split from :func:`finish_stop` so a caller can signal several services at once and then
    wait for them together (their shutdowns overlap instead of adding up)."""
    pid = running_pid(name)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return pid


def wait_exited(pid: int, deadline: float, poll_s: float = 0.1) -> bool:
    """True once ``pid`` is gone, False if it is still alive at ``deadline`` (monotonic)."""
    while not exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def finish_stop(name: str, pid: int, deadline: float) -> Stopped:
    """Wait until ``deadline`` for the SIGTERMed ``pid`` to exit, SIGKILL it if it has not.

    A JVM ignores nothing after SIGKILL, so the second wait is bounded by the kernel, not by
    the service: ``services down`` can never hang on a service's own shutdown logic."""
    outcome = Stopped.TERMINATED
    if not wait_exited(pid, deadline):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        outcome = Stopped.KILLED
        wait_exited(pid, time.monotonic() + KILL_WAIT_S)
    _pid_file(name).unlink(missing_ok=True)
    return outcome


def stop(name: str, timeout: float = 10.0) -> Stopped | None:
    """SIGTERM our ``name`` JVM, SIGKILL it after ``timeout`` s; None if it was not running."""
    pid = terminate(name)
    if pid is None:
        return None
    return finish_stop(name, pid, time.monotonic() + timeout)


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (Linux only), for the timing/memory report."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """True if ``GET url`` answers 200 with body ``OK`` (Pinot's /health contract)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200 and resp.read(64).strip().upper().startswith(b"OK")
    except OSError:
        return False
