"""``silence --db`` is checked as ``rules run`` checks its ``--alerts-db``: a file it may not
read or write, or a folder it may not create it in, is one line naming the option and what
it expects (exit 2), not sqlite's "attempt to write a readonly database" or "unable to open
database file" (exit 1) that named neither the option nor the cause.

The permission cases run the command as user ``nobody`` (root reads and writes any file)."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelhealth.alerting.silences import silence_main

NOBODY = 65534
EXPECTED = "expected a SQLite file path, e.g. state/alerts.db"

as_nobody = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to run the command as another user (root reads any file)",
)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder under /tmp that user nobody can enter (pytest's tmp_path is root's own)."""
    folder = Path(f"/tmp/s25c-silence-{os.getpid()}-{time.monotonic_ns()}")
    folder.mkdir(mode=0o755, parents=True)
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _silence_as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           sys.executable, "-m", "modelhealth.cli", "silence", *argv]  # fmt: skip
    env = {**os.environ, "HOME": "/tmp"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def _made_by_root(folder: Path, mode: int) -> Path:
    db = folder / "alerts.db"
    assert silence_main(["--db", str(db), "add", "model=fraud", "-c", "x"], out=io.StringIO()) == 0
    db.chmod(mode)
    return db


@as_nobody
@pytest.mark.parametrize("command", [["list"], ["add", "model=fraud", "-c", "deploying"]])
def test_a_db_nobody_may_read_is_one_line_naming_the_option(
    command: list[str], shared: Path
) -> None:
    db = _made_by_root(shared, 0o600)
    run = _silence_as_nobody("--db", str(db), *command)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        f"error: --db {db} cannot be read (permission denied); {EXPECTED}"
    ]


@as_nobody
@pytest.mark.parametrize("command", [["list"], ["add", "model=fraud", "-c", "deploying"]])
def test_a_read_only_db_is_one_line_naming_the_option(command: list[str], shared: Path) -> None:
    """``list`` too: opening the store sets WAL mode and creates its table, so a read-only
    file failed with "attempt to write a readonly database"."""
    db = _made_by_root(shared, 0o644)
    run = _silence_as_nobody("--db", str(db), *command)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        f"error: --db {db} cannot be written (permission denied); {EXPECTED}"
    ]


@as_nobody
def test_a_db_that_cannot_be_created_names_the_folder(shared: Path) -> None:
    db = shared / "alerts.db"  # shared is root's, 0755: nobody may not create files there
    run = _silence_as_nobody("--db", str(db), "add", "model=fraud", "-c", "deploying")
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        f"error: --db {db} cannot be created: {shared} is not writable (permission denied)"
    ]
    assert not db.exists()


def test_a_denied_db_is_refused_before_sqlite_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same check as a non-root user sees it (``os.access`` says no), without setpriv."""
    db = tmp_path / "alerts.db"
    assert silence_main(["--db", str(db), "add", "model=fraud", "-c", "x"], out=io.StringIO()) == 0
    capsys.readouterr()
    real_access = os.access

    def denied(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        return False if Path(str(path)) == db else real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", denied)
    assert silence_main(["--db", str(db), "list"], out=io.StringIO()) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --db {db} cannot be read (permission denied); {EXPECTED}"
    ]


def test_a_missing_db_for_list_still_says_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``list`` and ``expire`` never create the database: a missing one is not a path
    problem but a wrong --db (exit 1, as before)."""
    db = tmp_path / "nowhere" / "alerts.db"
    assert silence_main(["--db", str(db), "list"], out=io.StringIO()) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: no alerting database at {db} (see --db)"
    ]
    assert not db.parent.exists()


def test_rules_and_silence_share_one_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One function decides for every file option, so the two commands cannot drift: the
    same directory is refused with the same words by ``silence --db`` and ``rules
    --alerts-db``."""
    import modelhealth.alerting.silences as silences
    from modelhealth.cliargs import file_problem
    from modelhealth.rules.cli import _check_paths

    assert silences.file_problem is file_problem
    args = argparse.Namespace(state=None, routing=None, alerts_db=str(tmp_path), email_to=[])
    with pytest.raises(ValueError) as refused:
        _check_paths(args)
    assert silence_main(["--db", str(tmp_path), "list"], out=io.StringIO()) == 2
    said = str(refused.value).removeprefix("--alerts-db ")
    assert capsys.readouterr().err.strip() == f"error: --db {said}"
    assert str(refused.value) == f"--alerts-db {tmp_path} is a directory; {EXPECTED}"


def test_a_path_under_a_file_says_its_folder_cannot_be_made(tmp_path: Path) -> None:
    """A file that would be created says so; one that is only read names the file in its way."""
    from modelhealth.cliargs import file_problem

    (tmp_path / "afile").write_text("x")
    under = str(tmp_path / "afile" / "alerts.db")
    assert file_problem(under, "a file", writes=True) == (
        f"{under}: cannot make its folder: {tmp_path / 'afile'} is not a directory; expected a file"
    )
    assert file_problem(under, "a file") == (
        f"{under}: {tmp_path / 'afile'} is not a directory; expected a file"
    )
