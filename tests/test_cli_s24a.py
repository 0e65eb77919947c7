"""The ``modelhealth`` dispatcher: a misspelt command names the one that was meant."""

from __future__ import annotations

import pytest

from modelhealth.cli import main


@pytest.mark.parametrize(("typed", "meant"), [("rule", "rules"), ("silences", "silence")])
def test_a_misspelt_command_suggests_the_real_one(
    typed: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([typed, "list"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"modelhealth: unknown command {typed!r} (did you mean {meant!r}?)"


def test_an_unrelated_word_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xyzzy"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "modelhealth: unknown command 'xyzzy'"
