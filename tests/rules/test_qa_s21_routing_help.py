"""``rules eval --help`` no longer promises that its one-shot ``--routing`` is reloaded.

Both commands shared one help text, "alert routing YAML (...; reloaded when edited)": true of
the ``rules run`` daemon, not of ``rules eval``, which evaluates once and exits.
"""

from __future__ import annotations

import re

import pytest

from modelhealth.rules.cli import _parser


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    with pytest.raises(SystemExit):
        _parser().parse_args([command, "--help"])
    return re.sub(r"\s+", " ", capsys.readouterr().out)


def test_only_rules_run_says_its_routing_is_reloaded(capsys: pytest.CaptureFixture[str]) -> None:
    assert "reloaded when edited" in _help(capsys, "run")
    text = _help(capsys, "eval")
    assert "alert routing YAML (receivers, routes, inhibit rules)" in text
    assert "reloaded" not in text
