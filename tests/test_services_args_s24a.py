"""``modelhealth services up|down --timeout`` and the environment variables beside them:
a value that cannot be a number of seconds or a port is one line naming it, before any JVM
is started or signalled, never a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelhealth.services import jvm
from modelhealth.services.paths import ServicesError


@pytest.fixture(autouse=True)
def _no_jvms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting or stopping anything would mean the value was not checked first."""

    def touched(*args: object, **kwargs: object) -> None:
        raise AssertionError("services were started or stopped with a bad --timeout")

    monkeypatch.setattr(jvm, "up", touched)
    monkeypatch.setattr(jvm, "down", touched)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up", "--timeout", "0"], "a number more than 0, got '0'"),
        (["up", "--timeout", "nan"], "a number more than 0, got 'nan'"),
        (["down", "--timeout", "-1"], "a number 0 or more, got '-1'"),
        (["down", "--timeout", "soon"], "a number 0 or more, got 'soon'"),
    ],
)
def test_a_timeout_that_is_no_number_of_seconds_is_a_usage_error(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        jvm.main(argv)
    assert exit_.value.code == 2
    assert f"argument --timeout: expected seconds, {expected}" in capsys.readouterr().err


def test_down_with_timeout_zero_still_means_kill_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    monkeypatch.setattr(jvm, "down", lambda timeout, purge: seen.append(timeout))
    assert jvm.main(["down", "--timeout", "0"]) == 0
    assert seen == [0.0]


def test_junk_in_the_timeout_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELHEALTH_SERVICES_TIMEOUT", "abc")
    with pytest.raises(ServicesError, match="MODELHEALTH_SERVICES_TIMEOUT: expected seconds"):
        jvm.default_timeout()
    monkeypatch.setenv("MODELHEALTH_SERVICES_TIMEOUT", "")
    assert jvm.default_timeout() == 300.0


@pytest.mark.parametrize("command", [["services", "status"], ["pinot", "drop"]])
def test_a_port_variable_holding_no_port_is_one_line(command: list[str]) -> None:
    env = {**os.environ, "MODELHEALTH_KAFKA_PORT": "abc"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"modelhealth {command[0]}: MODELHEALTH_KAFKA_PORT='abc' is not a port number"
    ]
