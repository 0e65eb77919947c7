"""Writing a file so a reader never sees half of it: the alert state, its scheduler memory
and the learned detector's artefacts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` into ``path`` via a temporary file in the same folder, fsynced, then renamed.

    Created with ``open()`` (mode 0666 less the umask), not ``mkstemp``'s owner-only 0600,
    so a rules runner or dashboard of another user can read it; no umask is changed."""
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
