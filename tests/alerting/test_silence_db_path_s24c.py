"""``silence --db`` naming a directory, or a path under a file, is one line naming the
option: it ended in sqlite's "unable to open database file" (or FileExistsError)
traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from modelhealth.alerting.silences import silence_main


@pytest.mark.parametrize("command", [["list"], ["add", "model=fraud", "-c", "deploying"]])
def test_a_directory_as_db_is_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = silence_main(["--db", str(tmp_path), *command], out=io.StringIO())
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: --db {tmp_path} is a directory; expected a SQLite file path, e.g. state/alerts.db"
    ]


def test_a_db_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    db = tmp_path / "afile" / "alerts.db"
    code = silence_main(["--db", str(db), "add", "model=fraud", "-c", "why"], out=io.StringIO())
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --db {db}: cannot make its folder"), err
