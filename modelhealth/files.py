"""Writing a file so a reader never sees half of it (the alert state, its scheduler memory
and the learned detector's artefacts), and telling whether a file changed since it was read
(rule and routing files, the dashboard's configs, references, history and store)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

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


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` into ``path`` via a temporary file in the same folder, fsynced, then renamed.

    Created with ``open()`` (mode 0666 less the umask), not ``mkstemp``'s owner-only 0600,
    so a rules runner or dashboard of another user can read it; no umask is changed. The
    folder is fsynced after the rename too: until it is, a power loss may undo the rename
    and bring back the previous file (never a half-written one)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
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
