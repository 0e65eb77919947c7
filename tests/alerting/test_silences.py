from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelhealth.alerting.silences import SilenceStore, silence_main
from modelhealth.clock import FakeClock


def test_cli_add_list_expire_roundtrip(tmp_path: Path, clock: FakeClock) -> None:
    db = str(tmp_path / "a.db")
    out = io.StringIO()
    argv = [
        "--db",
        db,
        "add",
        "model=fraud",
        "severity=~warning|info",
        "--for",
        "2h",
        "-c",
        "deploying",
        "--by",
        "alice",
    ]
    assert silence_main(argv, clock=clock, out=out) == 0
    sid = out.getvalue().split()[0]
    store = SilenceStore(db, clock)
    assert store.mutes({"model": "fraud", "severity": "warning"}, clock.now())
    assert not store.mutes({"model": "fraud", "severity": "critical"}, clock.now())
    assert not store.mutes(
        {"model": "fraud", "severity": "warning"}, clock.now() + timedelta(hours=2)
    )
    out = io.StringIO()
    assert silence_main(["--db", db, "list"], clock=clock, out=out) == 0
    assert sid in out.getvalue() and "active" in out.getvalue() and "deploying" in out.getvalue()
    assert silence_main(["--db", db, "expire", sid], clock=clock, out=io.StringIO()) == 0
    assert not store.mutes({"model": "fraud", "severity": "warning"}, clock.now())
    assert silence_main(["--db", db, "expire", sid], clock=clock, out=io.StringIO()) == 1
    out = io.StringIO()
    silence_main(["--db", db, "list"], clock=clock, out=out)
    assert out.getvalue() == "no active or pending silences\n"
    silence_main(["--db", db, "list", "--all"], clock=clock, out=out)
    assert "expired" in out.getvalue()
    # --db also after the subcommand (it was "unrecognized arguments: --db")
    out = io.StringIO()
    assert silence_main(["list", "--all", "--db", db], clock=clock, out=out) == 0
    assert sid in out.getvalue()


def test_cli_rejects_bad_input(tmp_path: Path, clock: FakeClock, capsys) -> None:
    db = str(tmp_path / "a.db")
    assert silence_main(["--db", db, "add", "fraud", "-c", "x"], clock=clock) == 2
    assert "expected LABEL=VALUE" in capsys.readouterr().err
    assert (
        silence_main(["--db", db, "add", "model=x", "--for", "2 hours", "-c", "x"], clock=clock)
        == 2
    )
    assert "invalid duration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        silence_main(["--db", db, "add", "model=x"], clock=clock)  # -c is required


def test_store_validates() -> None:
    store = SilenceStore(":memory:")
    from .conftest import T0

    with pytest.raises(ValueError, match="at least one matcher"):
        store.add([], T0, T0 + timedelta(hours=1), "a", "c")
    with pytest.raises(ValueError, match="must be after"):
        store.add(["model=x"], T0, T0, "a", "c")


def test_a_silence_that_would_mute_everything_is_refused(tmp_path: Path, capsys) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    db = str(tmp_path / "a.db")
    for matcher in ("model=~.*", "team!=risk", "model="):
        assert silence_main(["--db", db, "add", matcher, "-c", "x"], clock=clock) == 2
        assert "would mute every alert" in capsys.readouterr().err
    assert silence_main(["--db", db, "add", "model=~fraud|search", "-c", "x"], clock=clock) == 0


def test_listing_no_silences_says_so(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    db = str(tmp_path / "a.db")
    assert (
        silence_main(["--db", db, "add", "model=fraud", "-c", "x", "--for", "1h"], clock=clock) == 0
    )
    clock.advance(hours=2)
    out = io.StringIO()
    assert silence_main(["--db", db, "list"], clock=clock, out=out) == 0
    assert out.getvalue() == "no active or pending silences\n"


def test_a_rejected_silence_creates_no_database(tmp_path: Path) -> None:
    """A typo in `silence add` left an empty alerting database behind, which a later
    `silence list` in that folder read as "no active or pending silences"."""
    db = tmp_path / "state" / "alerts.db"
    assert silence_main(["add", "fraud", "-c", "x", "--db", str(db)]) == 2
    assert silence_main(["add", "model=fraud", "--for", "2 hours", "-c", "x", "--db", str(db)]) == 2
    assert not db.exists() and not db.parent.exists()
