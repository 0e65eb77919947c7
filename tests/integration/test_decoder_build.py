"""``modelhealth services fetch`` builds the Pinot decoder from source, once per source change.

Builds a copy of ``deploy/jvm`` into a private cache, so the jar the running Pinot uses is never
touched. Needs Maven and a JDK (the integration tier's requirements); ~5 s per build warm.
"""

from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from modelhealth.services import decoder
from modelhealth.services.paths import ServicesError, deploy_dir

pytestmark = pytest.mark.integration

CLASS_ENTRY = decoder.DECODER_CLASS.replace(".", "/") + ".class"
JAVA_11_MAJOR = 55


@pytest.fixture
def private_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the decoder sources and settings, and an empty jar cache."""
    if shutil.which("mvn") is None:
        pytest.fail("mvn is required to build the Pinot decoder (apt-get install maven)")
    root = tmp_path / "jvm"
    shutil.copytree(
        decoder.source_dir(), root / decoder.NAME, ignore=shutil.ignore_patterns("target")
    )
    shutil.copy(deploy_dir() / "settings.xml", root / "settings.xml")
    monkeypatch.setenv("MODELHEALTH_DEPLOY_DIR", str(root))
    monkeypatch.setenv("MODELHEALTH_CACHE", str(tmp_path / "cache"))
    return root


def test_the_jar_is_built_once_and_rebuilt_when_a_source_changes(private_copy: Path) -> None:
    messages: list[str] = []
    assert not decoder.is_built()
    jar = decoder.build_decoder(log=messages.append)
    assert jar == decoder.decoder_jar() and jar.is_relative_to(private_copy.parent / "cache")
    with zipfile.ZipFile(jar) as archive:
        header = archive.read(CLASS_ENTRY)[:8]
    assert struct.unpack(">IHH", header) == (0xCAFEBABE, 0, JAVA_11_MAJOR)  # runs on Java 11+
    assert decoder.is_built() and any("built" in m for m in messages)

    messages.clear()
    before = jar.stat().st_mtime_ns
    decoder.build_decoder(log=messages.append)
    assert messages == [] and jar.stat().st_mtime_ns == before  # unchanged sources: no build

    source = next((private_copy / decoder.NAME / "src").rglob("DropLog.java"))
    source.write_text(source.read_text() + "\n// edited\n")
    assert not decoder.is_built()
    decoder.build_decoder(log=messages.append)
    assert decoder.is_built() and any("building" in m for m in messages)


def test_a_compile_error_is_reported_with_the_maven_log(private_copy: Path) -> None:
    source = next((private_copy / decoder.NAME / "src").rglob("DropLog.java"))
    source.write_text(source.read_text().replace("final class DropLog {", "final class DropLog {{"))
    with pytest.raises(ServicesError, match="mvn package failed") as err:
        decoder.build_decoder(log=lambda _: None)
    assert "DropLog.java" in str(err.value)  # the compiler's message, from the log tail
    assert not decoder.decoder_jar().exists()
