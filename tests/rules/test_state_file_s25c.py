"""The alert state file (``--state``, ``alerts.json``).

A corrupt one stops ``rules run`` (exit 1: starting afresh would forget its alerts), which
under a supervisor that restarts it is a restart loop; the error is the whole fix: the
command that moves the file aside, what is lost with it and what is kept.

And a crash while the file is written cannot corrupt it: it is written to a temporary file
in the same folder, fsynced, and renamed over the old one, so a process killed in the middle
of the write leaves the previous state, which the next start reads."""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from modelhealth.rules.cli import rules_main
from modelhealth.rules.state import AlertStateStore
from modelhealth.types import Alert, AlertState
from tests.conftest import T0
from tests.rules.test_cli_paths_s24c import setup  # noqa: F401  (a fixture)


def _stopped(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        rules_main(argv)
    assert isinstance(stopped.value.code, str), stopped.value.code
    return stopped.value.code


def test_a_corrupt_state_says_how_to_start_afresh_and_what_is_lost(
    setup: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    db, rules = setup
    state = tmp_path / "st" / "alerts.json"
    state.parent.mkdir()
    state.write_text('[{"rule_id": "r", "alert": {"labels"')  # cut off mid-write
    argv = ["run", "--db", str(db), "--state", str(state), "--interval", "1s",
            "--max-ticks", "1", str(rules)]  # fmt: skip
    message = _stopped(argv)
    assert "\n" not in message  # one line in the journal
    assert message.startswith(f"rules: alert state {state} is unreadable (JSONDecodeError: ")
    assert "a supervisor's restarts fail the same way until it is moved" in message
    assert f"move it away: mv {state} {state}.corrupt-" in message
    assert "Lost with it: which alerts were pending or firing" in message
    assert "Kept: the alerting database" in message
    assert state.read_text().endswith('"labels"')  # nothing was touched

    # doing what it says is enough: the next start runs, the bad file kept for a look
    command = message.split("move it away: ", 1)[1].split(", and start again", 1)[0]
    mv, source, target = shlex.split(command)
    assert mv == "mv" and source == str(state)
    os.rename(source, target)
    assert rules_main(argv) == 0
    assert Path(target).read_text().endswith('"labels"')
    assert json.loads(state.read_text()) == []


def test_a_corrupt_state_stops_the_daemon_with_exit_1(
    setup: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The default stays a stop: starting afresh would lose the alerts silently."""
    db, rules = setup
    state = tmp_path / "alerts.json"
    state.write_text("not json")
    cmd = [sys.executable, "-m", "modelhealth.cli", "rules", "run", "--db", str(db),
           "--state", str(state), "--interval", "1s", "--max-ticks", "1", str(rules)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert run.returncode == 1, run.stderr[-2000:]
    assert f"mv {state} {state}.corrupt-" in run.stderr
    assert "Traceback" not in run.stderr


def _alert(minutes: int) -> Alert:
    return Alert(
        labels={"alertname": "p99", "model": "fraud", "severity": "critical"},
        annotations={"summary": f"p99 high for {minutes}m"},
        state=AlertState.FIRING,
        value=1.0,
        active_at=T0,
        fired_at=T0 + timedelta(minutes=minutes),
    )


CHILD = """
import os, sys, time
from pathlib import Path
import modelhealth.files as files
from modelhealth.rules.state import AlertStateStore
from tests.rules.test_state_file_s25c import _alert

state = AlertStateStore(sys.argv[1])
state.alerts[("r", "fp")] = _alert(1)
state.save()  # the state the crash must leave intact


class Torn:
    '''The temporary file, which stops the process half-way through its bytes.'''

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        print("mid-write", flush=True)
        time.sleep(120)  # killed here

    def __getattr__(self, name):
        return getattr(self.f, name)


real_open = open
files.open = lambda path, mode="r", *a, **k: Torn(real_open(path, mode, *a, **k))
state.alerts[("r", "fp")] = _alert(2)
state.alerts[("r", "fp2")] = _alert(3)
state.save()
"""


def test_a_process_killed_mid_write_leaves_the_previous_state(tmp_path: Path) -> None:
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
        half = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(half) == 1 and half[0].stat().st_size > 0  # the torn bytes are on disk
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    # the torn bytes never carry the state's name: the next start reads the last save
    restarted = AlertStateStore(path)
    assert list(restarted.alerts.values()) == [_alert(1)]


def test_a_write_that_fails_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (or any error) during the write leaves the old file and no stray temp."""
    path = tmp_path / "alerts.json"
    state = AlertStateStore(path)
    state.alerts[("r", "fp")] = _alert(1)
    state.save()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    state.alerts[("r", "fp")] = _alert(2)
    with pytest.raises(OSError, match="No space left"):
        state.save()
    monkeypatch.undo()
    assert list(AlertStateStore(path).alerts.values()) == [_alert(1)]
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.json"]  # no temporary file left
