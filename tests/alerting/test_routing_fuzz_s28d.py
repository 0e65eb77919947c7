"""Fuzzing the routing loader: a broken routing file is a ConfigError at ``file:line``.

Cases come from the example ``routing.yaml`` through the seeded mutation fuzzer of
:mod:`tests.rules.yamlfuzz_s28d`; the regression tests are the defects it found, each
failing on the code before the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.routing import load_routing
from modelhealth.errors import ConfigError
from tests.rules.yamlfuzz_s28d import BOMB, EXAMPLES, cases, check_issues, within

ROUTING = (EXAMPLES / "routing.yaml").read_text(encoding="utf-8")
FILE = "routing.yaml"


def _error(text: str) -> str:
    with within(10), pytest.raises(ConfigError) as caught:
        parse_routing(text, FILE)
    return str(caught.value)


def test_the_seed_loads() -> None:
    assert parse_routing(ROUTING, FILE).receivers


def test_mutated_routing_files_fail_with_located_issues_only() -> None:
    failures = []
    for i, text in enumerate(cases([ROUTING], 900, seed=28)):
        try:
            with within(5):
                parse_routing(text, FILE)
        except ConfigError as exc:
            failures += [f"case {i}: {bad}" for bad in check_issues(exc.issues, FILE, text)]
        except Exception as exc:
            failures.append(f"case {i}: {type(exc).__name__}: {str(exc)[:200]}")
    assert failures == []


# -- regressions: each failed before the fix ------------------------------------------------


def test_an_alias_bomb_is_refused_instead_of_hanging() -> None:
    text = BOMB.replace("a: &a", "x-a: &a") + ROUTING.replace("receivers:", "x: *i\nreceivers:")
    assert _error(text).startswith(f"{FILE}:6:4: aliases expand this value to more than")


def test_deep_nesting_is_a_config_error() -> None:
    """Was ``RecursionError`` from PyYAML's composer."""
    message = _error("route:\n  receiver: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message.startswith(f"{FILE}:2:")
    assert "nested more than 100 levels deep" in message


def test_a_control_character_is_located() -> None:
    """Was ``routing.yaml: invalid YAML: unacceptable character #x001b`` without a line."""
    message = _error(ROUTING.replace("receiver: ml-email ", "receiver: ml\x1b-email ", 1))
    assert message.startswith(f"{FILE}:11:15: the character U+001B is not allowed")


def test_an_empty_file_names_its_first_line() -> None:
    assert _error("# nothing yet\n").startswith(f"{FILE}:1:1: empty file")


@pytest.mark.parametrize("timeout", ["nan", "inf", "-5", "0", "1e999"])
def test_a_timeout_must_be_a_positive_number_of_seconds(timeout: str) -> None:
    """``float`` took nan, inf, -5 and 0: the receiver loaded and every send failed."""
    text = ROUTING.replace(
        "url: http://127.0.0.1:5001/alerts",
        f"url: http://127.0.0.1:5001/alerts\n      timeout: {timeout}",
    )
    message = _error(text)
    assert message.startswith(f'{FILE}:47:16: receiver "hook": webhook.timeout: expected a')
    assert f"{timeout!r} is not a number of seconds > 0 (e.g. 10)" in message


def test_a_timeout_in_seconds_still_loads() -> None:
    text = ROUTING.replace(
        "url: http://127.0.0.1:5001/alerts", "url: http://127.0.0.1:5001/alerts\n      timeout: 2.5"
    )
    assert parse_routing(text, FILE).receivers["hook"].options["timeout"] == 2.5


def test_a_routing_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    """Was a raw ``UnicodeDecodeError`` traceback from every command that loads routing."""
    path = tmp_path / "routing.yaml"
    path.write_bytes(b"route:\n  receiver: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    assert str(caught.value) == f"{path}:2:16: byte 0xe9 is not UTF-8; save the file as UTF-8"
