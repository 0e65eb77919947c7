"""Writing a file so a reader never sees half of it (the alert state, its scheduler memory
and the learned detector's artefacts), removing what a writer killed mid-write left, and
telling whether a file changed since it was read
(rule and routing files, the dashboard's configs, references, history and store)."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from modelhealth.clock import SystemClock

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int]
"""A file's size, modification time (ns) and inode: an edit, an append, or a replacement by
rename (an editor's save, a new store snapshot, a restored backup: a new inode even when the
size and time are the same) changes it. A stat, no read: cheap enough for every tick."""

NO_STAMP: Stamp = (-1, -1, -1)
"""What :func:`file_stamps` gives a file that cannot be stat'ed (gone, not written yet)."""

Stamps = tuple[tuple[str, int, int, int], ...]
"""(name, size, mtime, inode) per file: :func:`file_stamps`."""


def file_stamp(path: str | os.PathLike[str]) -> Stamp:
    """``path``'s :data:`Stamp` (through symlinks); OSError (FileNotFoundError …) when it
    cannot be stat'ed, for a caller that must say why."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def file_stamps(paths: Iterable[str | os.PathLike[str]]) -> Stamps:
    """(name, size, mtime, inode) of each of ``paths``, :data:`NO_STAMP` for one that cannot
    be stat'ed: a new, deleted, renamed, edited or replaced file changes the whole."""
    out = []
    for path in paths:
        try:
            stamp = file_stamp(path)
        except OSError:
            stamp = NO_STAMP
        out.append((os.fspath(path), *stamp))
    return tuple(out)


def _temp_name(name: str, tag: str) -> str:
    """The name :func:`write_atomic` gives the temporary file of ``name`` (hidden, beside
    it), and :func:`remove_stale_temps` looks for."""
    return f".{name}.{tag}.tmp"


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` into ``path`` via a temporary file in the same folder, fsynced, then renamed.

    Created with ``open()`` (mode 0666 less the umask), not ``mkstemp``'s owner-only 0600,
    so a rules runner or dashboard of another user can read it; no umask is changed. The
    folder is fsynced after the rename too: until it is, a power loss may undo the rename
    and bring back the previous file (never a half-written one)."""
    tmp = path.with_name(_temp_name(path.name, uuid.uuid4().hex))
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


STALE_TEMP_AGE = timedelta(hours=1)
"""How old a temporary file of a state write must be before it counts as left by a writer
that died (:func:`remove_stale_temps`).

By age, not by owner: ``write_atomic`` names its temporary file ``.NAME.<uuid>.tmp``, with no
pid to check, and a pid could not be judged anyway for a writer on another host sharing the
folder, or by a reader of another user (the dashboard opens the state too). A live writer
holds its file for one write, fsync and rename of a small JSON document: milliseconds, seconds
on a slow disk, never an hour, so removing an older one takes nobody's file; what a
leftover costs until then is a little disk."""


def remove_stale_temps(target: Path, now: datetime | None = None) -> list[Path]:
    """Remove the temporary files of ``target`` (``.NAME.<anything without a dot>.tmp`` beside
    it, as ``write_atomic`` names them) last modified :data:`STALE_TEMP_AGE` or more before
    ``now`` (the real time: file times are real). Returns those removed; one that cannot be
    removed (gone meanwhile, a folder of another user) is left, silently.

    No other file is touched: not a fresh one a live writer may be about to rename, nor one
    of another state file in the folder (``.alerts.json.bak.<uuid>.tmp`` is
    ``alerts.json.bak``'s, not ``alerts.json``'s: its middle part has a dot)."""
    pattern = re.compile(re.escape(_temp_name(target.name, "@")).replace("@", "[^./]+"))
    cutoff = (now or SystemClock().now()).timestamp() - STALE_TEMP_AGE.total_seconds()
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(target.parent) if pattern.fullmatch(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue  # maybe a live writer's
            os.unlink(entry.path)
        except OSError:
            continue
        log.info("removed %s: a temporary file of a state write that never finished", entry.path)
        removed.append(Path(entry.path))
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX). Where a folder cannot be opened or
    fsynced (Windows, some network file systems) the rename stands as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
