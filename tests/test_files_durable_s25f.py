"""write_atomic makes its rename durable: after the file's own fsync and the rename, the
folder holding it is fsynced too (else a power loss may bring back the previous file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelhealth.files import write_atomic


def test_the_folder_is_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real fsync runs; the spy records what kind of file each call flushed and
    whether the new content had been renamed into place by then."""
    target = tmp_path / "alerts.json"
    target.write_bytes(b"old")
    real_fsync = os.fsync
    calls: list[tuple[str, bytes]] = []

    def spy(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        calls.append((kind, target.read_bytes()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_atomic(target, b"new")
    assert calls == [("file", b"old"), ("folder", b"new")]
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.json"]  # no temp file left
