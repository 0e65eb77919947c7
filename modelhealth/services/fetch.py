"""Download the Kafka and Pinot jars from Maven Central with the project's own poms (and build
modelhealth's Pinot decoder from source, see :mod:`modelhealth.services.decoder`).

Maven does the resolving (``dependency:copy-dependencies`` into a flat ``lib/``), so versions and
exclusions live in ``deploy/jvm/*/pom.xml`` where they can be reviewed. A marker file holding a
hash of the pom and settings makes the second run a no-op and a pom change a re-download.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from modelhealth.services.decoder import build_decoder
from modelhealth.services.paths import (
    COMPONENTS,
    ServicesError,
    cache_root,
    deploy_dir,
    find_mvn,
    lib_dir,
    tail,
)

#: Pinned so a Maven upgrade cannot change how jars are named or laid out.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER = ".modelhealth-complete"


def _fingerprint(component: str) -> str:
    """Hash of the inputs that decide the jar set: the component's pom and settings.xml."""
    digest = hashlib.sha256()
    for path in (deploy_dir() / component / "pom.xml", deploy_dir() / "settings.xml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_fetched(component: str) -> bool:
    """True when ``lib_dir(component)`` is complete for the current pom (marker matches)."""
    marker = lib_dir(component) / MARKER
    try:
        return marker.read_text().strip() == _fingerprint(component)
    except OSError:
        return False


def fetch_component(component: str, log: Callable[[str], None] = print) -> Path:
    """Download ``component``'s jars unless already cached; return the lib folder.

    Maven copies into a sibling temp folder that is renamed into place only on success, so an
    interrupted download never leaves a half-filled lib/ that looks usable.
    """
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
    target = lib_dir(component)
    if is_fetched(component):
        return target
    mvn = find_mvn()
    staging = target.with_name("lib.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    mvn_log = cache_root() / "jvm" / component / "mvn.log"
    cmd = [
        mvn, "-B", "-ntp",
        "-s", str(deploy_dir() / "settings.xml"),
        "-f", str(deploy_dir() / component / "pom.xml"),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        "-Dmdep.prependGroupId=true",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    log(f"fetching {component} jars from Maven Central (first run only; log: {mvn_log})")
    started = time.monotonic()
    with mvn_log.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise ServicesError(
            f"mvn failed for {component} (exit {proc.returncode}); tail of {mvn_log}:\n"
            + tail(mvn_log)
        )
    jars = list(staging.glob("*.jar"))
    size_mb = sum(j.stat().st_size for j in jars) / 1e6
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / MARKER).write_text(_fingerprint(component) + "\n")
    log(
        f"fetched {component}: {len(jars)} jars, {size_mb:.0f} MB "
        f"in {time.monotonic() - started:.0f}s"
    )
    return target


def fetch_all(log: Callable[[str], None] = print) -> None:
    """Download every component's jars and build the decoder (no-op for what is cached)."""
    for component in COMPONENTS:
        fetch_component(component, log=log)
    build_decoder(log=log)
