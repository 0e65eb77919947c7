"""``--email-to`` together with ``--routing`` is a usage error (exit 2) that names both
options and says how to email those addresses through the routing file instead.

``--email-to`` stands in for a routing file (every alert emailed, criticals also paged);
with ``--routing`` the file names every receiver, as Alertmanager's config does, and the
addresses were silently dropped: whoever was added with ``--email-to`` was never emailed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelhealth.alerting.routing import load_routing
from modelhealth.rules.cli import rules_main
from tests.rules.test_cli_paths_s24c import setup  # noqa: F401  (a fixture)

ROUTING = """
route: {receiver: hook}
receivers:
  - {name: hook, webhook: {url: "http://127.0.0.1:9/alerts"}}
"""


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.mark.parametrize("command", ["run", "eval"])
def test_email_to_with_routing_is_a_usage_error_naming_both(
    command: str,
    setup: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, rules = setup
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    state = tmp_path / "state" / "alerts.json"
    argv = [command, "--db", str(db), "--state", str(state), "--routing", str(routing),
            "--email-to", "ops@example.com", str(rules)]  # fmt: skip
    if command == "run":
        argv[1:1] = ["--interval", "1s", "--max-ticks", "1"]
    assert rules_main(argv) == 2
    lines = _lines(capsys)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"rules {command}: --email-to cannot be combined with --routing")
    assert f"add an email receiver to {routing} instead" in line
    assert "ops@example.com" in line and "drop --email-to" in line
    assert not state.parent.exists()  # refused before anything started


def test_the_suggested_receiver_loads_and_emails_the_addresses(
    setup: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The snippet the error suggests is a routing that loads and emails every address."""
    db, rules = setup
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    addresses = ["ops@example.com", "Risk Team <risk@example.com>"]
    argv = ["eval", "--db", str(db), "--routing", str(routing)]
    for address in addresses:
        argv += ["--email-to", address]
    assert rules_main([*argv, str(rules)]) == 2
    (line,) = _lines(capsys)
    found = re.search(r"e\.g\. (receivers: \[.*\]) with (route: \{.*?\})", line)
    assert found, line
    suggested = tmp_path / "suggested.yaml"
    suggested.write_text(f"{found[1]}\n{found[2]}\n")
    cfg = load_routing(suggested)
    receiver = cfg.receivers[cfg.route.receiver]
    assert receiver.kind == "email" and list(receiver.options["to"]) == addresses


def test_email_to_alone_and_routing_alone_still_run(
    setup: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, rules = setup
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    base = ["eval", "--db", str(db), "--alerts-db", str(tmp_path / "a.db")]
    assert rules_main([*base, "--routing", str(routing), str(rules)]) == 0
    assert rules_main([*base, "--email-to", "ops@example.com", str(rules)]) == 0
    assert "evaluated 1 rule(s)" in capsys.readouterr().out
