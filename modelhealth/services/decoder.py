"""Build modelhealth's Pinot Kafka decoder (``deploy/jvm/pinot-decoder``) into the jar cache.

The decoder is our own Java source, so unlike the Kafka and Pinot jars it is compiled, not
downloaded: ``mvn package`` on its pom (provided-scope deps only, ~17 MB into a cold ~/.m2, ~15 s).
The jar lands at :func:`decoder_jar` next to a marker holding a hash of the pom, settings.xml and
every source file, so an unchanged checkout never rebuilds and an edited source always does.
The Pinot JVMs put the jar on their classpath after ``lib/*`` (see ``pinot.specs``); a running
server keeps the classes it loaded, so a rebuild needs ``services down`` + ``up`` to take effect.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from modelhealth.services.paths import ServicesError, cache_root, deploy_dir, find_mvn, tail

#: The class Pinot table configs name in ``stream.kafka.decoder.class.name``.
DECODER_CLASS = "io.modelhealth.pinot.RowsJsonMessageDecoder"
NAME = "pinot-decoder"
JAR_NAME = "modelhealth-pinot-decoder.jar"
MARKER = ".modelhealth-built"


def source_dir() -> Path:
    return deploy_dir() / NAME


def decoder_dir() -> Path:
    """Cache folder holding the built jar, its marker, the Maven build tree and log."""
    return cache_root() / "jvm" / NAME


def decoder_jar() -> Path:
    """The built jar (exists once :func:`build_decoder` succeeded)."""
    return decoder_dir() / JAR_NAME


def fingerprint() -> str:
    """Hash of everything that decides the jar: pom, settings.xml and src/ (paths + bytes)."""
    digest = hashlib.sha256()
    root = source_dir()
    inputs = [root / "pom.xml", deploy_dir() / "settings.xml"]
    inputs += sorted(p for p in (root / "src").rglob("*") if p.is_file())
    for path in inputs:
        digest.update(str(path.relative_to(deploy_dir())).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_built() -> bool:
    """True when the cached jar was built from the current sources."""
    try:
        marker = (decoder_dir() / MARKER).read_text().strip()
    except OSError:
        return False
    return decoder_jar().is_file() and marker == fingerprint()


def build_decoder(log: Callable[[str], None] = print) -> Path:
    """Compile the decoder jar unless the cached one matches the sources; return its path.

    The jar is written next to the target and renamed into place, so a failed or interrupted
    build never replaces a working jar (and a JVM holding the old one open keeps its inode).
    """
    if is_built():
        return decoder_jar()
    mvn = find_mvn()
    folder = decoder_dir()
    build = folder / "build"
    shutil.rmtree(build, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    mvn_log = folder / "mvn.log"
    cmd = [
        mvn, "-B", "-ntp",
        "-s", str(deploy_dir() / "settings.xml"),
        "-f", str(source_dir() / "pom.xml"),
        f"-Ddecoder.build.dir={build}",
        "package",
    ]  # fmt: skip
    log(f"building the Pinot decoder from {source_dir()} (log: {mvn_log})")
    started = time.monotonic()
    with mvn_log.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    built = build / JAR_NAME
    if proc.returncode != 0 or not built.is_file():
        raise ServicesError(
            f"mvn package failed for the Pinot decoder (exit {proc.returncode}); "
            f"tail of {mvn_log}:\n{tail(mvn_log)}"
        )
    staging = folder / (JAR_NAME + ".partial")
    shutil.copyfile(built, staging)
    os.replace(staging, decoder_jar())
    (folder / MARKER).write_text(fingerprint() + "\n")
    log(f"built {decoder_jar()} in {time.monotonic() - started:.0f}s")
    return decoder_jar()
