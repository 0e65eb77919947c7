"""``modelhealth demo`` checks its arguments before any work, and never wipes a folder it did
not make: ``--out DIR`` used to ``rmtree`` any existing DIR (``--out .`` or ``--out ~``
included), and ``--rules nonexist`` ran the whole backfill, evaluated 0 rules and exited 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhealth.demo.runner import MARKER, demo_main, prepare_out
from tests.conftest import no_demo_work


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with no_demo_work():  # refused before any work: no backfill, no training
        code = demo_main(["--no-dashboard", "--duration", "0", *argv])
    return code, capsys.readouterr().err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelhealth demo: error: "), err
    return lines[0]


def test_a_non_empty_folder_it_did_not_make_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "home"
    (victim / "projects").mkdir(parents=True)
    (victim / "projects" / "thesis.tex").write_text("years of work")
    (victim / "notes.txt").write_text("keep me")
    code, err = _run(capsys, "--out", str(victim))
    assert code != 0
    assert "not made by `modelhealth demo`" in _one_line_error(err)
    assert (victim / "projects" / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in victim.iterdir()) == ["notes.txt", "projects"]


def test_out_dot_in_a_non_empty_working_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keep.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, "--out", ".")
    assert code != 0 and _one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("data")
    code, err = _run(capsys, "--out", str(target))
    assert code != 0 and "not a folder" in _one_line_error(err)
    assert target.read_text() == "data"


def test_only_a_marked_or_empty_folder_is_cleaned(tmp_path: Path) -> None:
    new = tmp_path / "new" / "out"
    prepare_out(new)  # created, parents too, and marked
    assert (new / MARKER).is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_out(empty)
    assert [p.name for p in empty.iterdir()] == [MARKER]

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("x")
    (new / "state").mkdir()
    (new / "state" / "alerts.json").write_text("{}")
    (new / "old.duckdb").write_text("")
    (new / "link").symlink_to(outside)  # a link is removed, never followed
    prepare_out(new)  # an earlier demo's folder: emptied for the new run
    assert [p.name for p in new.iterdir()] == [MARKER]
    assert (outside / "precious.txt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tick", "0"], "--tick"),
        (["--tick", "-5"], "--tick"),
        (["--tick", "nan"], "--tick"),
        (["--days", "0"], "--days"),
        (["--days", "-1"], "--days"),
        (["--duration", "-1"], "--duration"),
        (["--dashboard-port", "0"], "--dashboard-port"),
        (["--dashboard-port", "70000"], "--dashboard-port"),
    ],
)
def test_nonsensical_values_are_rejected_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    code, err = _run(capsys, "--out", str(out), *args)
    assert code != 0 and message in _one_line_error(err)
    assert not out.exists()


def test_missing_rules_are_an_error_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = _run(capsys, "--out", str(out), "--rules", str(tmp_path / "nonexist"))
    assert code != 0 and "no such file or folder" in _one_line_error(err)
    assert not out.exists()


def test_rules_without_a_single_valid_rule_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-rules"
    empty.mkdir()
    broken = tmp_path / "broken-rules"
    broken.mkdir()
    (broken / "x.yaml").write_text("model: fraud\nrules:\n  - name: r\n    metric: nope\n")
    for rules in (empty, broken):
        out = tmp_path / f"out-{rules.name}"
        code, err = _run(capsys, "--out", str(out), "--rules", str(rules))
        assert code != 0 and "no valid rule" in _one_line_error(err)
        assert not out.exists()


def test_rules_inside_the_folder_the_demo_empties_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--rules demo-output/config/rules`` would be deleted by the cleaning it then needs."""
    from modelhealth.demo.runner import default_rules_dir

    out = tmp_path / "out"
    prepare_out(out)
    rules = out / "config" / "rules"
    rules.mkdir(parents=True)
    (rules / "fraud.yaml").write_text((default_rules_dir() / "search.yaml").read_text())
    code, err = _run(capsys, "--out", str(out), "--rules", str(rules))
    assert code != 0 and "inside --out" in _one_line_error(err)
    assert (rules / "fraud.yaml").exists()


def test_without_lightgbm_the_demo_skips_the_learned_rules_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightGBM is imported only when the first model is fitted: without it (no `learn`
    extra) the demo's training crashed with a ModuleNotFoundError traceback."""
    import sys

    from modelhealth.demo.learned import with_learned_rules
    from modelhealth.demo.runner import default_rules_dir

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm -> ImportError
    said: list[str] = []
    rules = with_learned_rules(default_rules_dir(), tmp_path, ["fraud"], said.append)
    assert said and "pip install 'modelhealth[learn]'" in said[-1]
    assert sorted(p.name for p in rules.iterdir()) == sorted(
        p.name for p in default_rules_dir().iterdir()
    )
