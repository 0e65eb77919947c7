"""A temporary file left by a state writer killed mid-write is removed when the state is
next opened, once it is old enough that no live writer can own it.

The atomic write (a temporary file beside the state, fsynced, renamed over it) kept the
state intact through a crash, but the temporary file stayed next to it forever: one more
``.alerts.json.<uuid>.tmp`` per crash. Its name holds no pid, so a leftover is told from a
live writer's by age (``STALE_TEMP_AGE``: a live write lasts milliseconds).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from modelhealth.rules import state as state_module
from modelhealth.rules.state import AlertStateStore
from tests.rules.test_state_file_s25c import CHILD, _alert

HOURS = 3600.0


def _temp(target: Path, age_s: float) -> Path:
    """A temporary file of ``target`` as ``write_atomic`` names it, last written ``age_s``
    seconds ago."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text('[{"rule_id": "r"')  # torn bytes
    st = tmp.stat()
    os.utime(tmp, (st.st_atime - age_s, st.st_mtime - age_s))
    return tmp


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_killed_writers_temp_file_is_removed_when_the_state_is_opened(tmp_path: Path) -> None:
    """The real leftover: a writer killed half-way through its temporary file (the child of
    ``test_state_file_s25c``); once that is older than a write can last, opening the state
    removes it and reads the last good save."""
    path = tmp_path / "alerts.json"
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid-write"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    (left,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    AlertStateStore(path)
    assert left.exists()  # fresh: it could be a live writer's
    st = left.stat()
    os.utime(left, (st.st_atime - 2 * HOURS, st.st_mtime - 2 * HOURS))
    restarted = AlertStateStore(path)
    assert not left.exists()
    assert list(restarted.alerts.values()) == [_alert(1)]  # the last good save
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_only_stale_temps_of_this_state_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    AlertStateStore(path).save()
    stale = _temp(path, 2 * HOURS)
    stale_scheduler = _temp(tmp_path / "alerts.scheduler.json", 2 * HOURS)
    fresh = _temp(path, 0)  # a live writer's, about to be renamed
    other = _temp(tmp_path / "alerts.json.bak", 2 * HOURS)  # another file's
    unrelated = tmp_path / "notes.tmp"
    unrelated.write_text("x")
    os.utime(unrelated, (0, 0))

    AlertStateStore(path)
    assert not stale.exists() and not stale_scheduler.exists()
    assert fresh.exists() and other.exists() and unrelated.exists()


def test_a_long_running_writer_removes_a_leftover_once_it_is_stale(tmp_path: Path) -> None:
    """A leftover of a crash just before this start was too fresh to remove at opening; a
    save ``STALE_TEMP_AGE`` after the last look looks again."""
    path = tmp_path / "alerts.json"
    store = AlertStateStore(path)
    left = _temp(path, 2 * HOURS)
    store.save()
    assert left.exists()  # looked at most every STALE_TEMP_AGE
    store._swept_at -= state_module.STALE_TEMP_AGE.total_seconds()  # an hour of ticks later
    store.save()
    assert not left.exists()
    assert _names(tmp_path) == {"alerts.json"}


def test_a_state_without_a_file_or_folder_sweeps_nothing(tmp_path: Path) -> None:
    AlertStateStore()
    AlertStateStore(tmp_path / "missing" / "alerts.json")
    assert state_module.remove_stale_temps(tmp_path / "missing" / "alerts.json") == []
