"""Where the JVM services keep jars, state and logs, and how to find java and mvn.

Jars are large (~210 MB) and data is machine-local, so both live outside the git work tree:
jars under ``$MODELHEALTH_CACHE/jvm`` (default ``~/.cache/modelhealth/jvm``), and data, logs and
pid files under ``$MODELHEALTH_RUN_DIR`` (default ``~/.cache/modelhealth/run``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Pinot and Kafka keep separate classpaths (their kafka-clients versions clash).
COMPONENTS: tuple[str, ...] = ("kafka", "pinot")


class ServicesError(RuntimeError):
    """A service could not be fetched, started, reached or stopped; the message says why."""


def cache_root() -> Path:
    """Root of the download cache (``$MODELHEALTH_CACHE`` or ``~/.cache/modelhealth``)."""
    env = os.environ.get("MODELHEALTH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "modelhealth"


def lib_dir(component: str) -> Path:
    """Flat folder of jars for ``component`` (``kafka`` or ``pinot``), used as ``-cp lib/*``."""
    return cache_root() / "jvm" / component / "lib"


def run_dir() -> Path:
    """State directory: per-service data, logs and pid files."""
    env = os.environ.get("MODELHEALTH_RUN_DIR")
    return Path(env).expanduser() if env else cache_root() / "run"


def logs_dir() -> Path:
    return run_dir() / "logs"


def pids_dir() -> Path:
    return run_dir() / "pids"


def deploy_dir() -> Path:
    """``deploy/jvm`` of the checkout (poms, settings.xml, config templates).

    Overridable with ``$MODELHEALTH_DEPLOY_DIR`` for a non-editable install.
    """
    env = os.environ.get("MODELHEALTH_DEPLOY_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "deploy" / "jvm"


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH; raise with an install hint."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServicesError(
            "java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME"
        )
    return found


def find_mvn() -> str:
    """``mvn`` on PATH; raise with an install hint (only needed for the first download)."""
    found = shutil.which("mvn")
    if not found:
        raise ServicesError("mvn not found: install Maven 3.8+ (apt-get install maven)")
    return found


def tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file, or a note that it is missing: for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])
