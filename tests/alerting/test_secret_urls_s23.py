"""A receiver URL that is itself a secret is a config error: secrets come from the
environment (``url_env: VAR``), never from YAML in git. Before, a webhook URL with a
password in it, or a Slack incoming-webhook URL (whoever has it can post to the channel),
loaded without a word. (And a silence that lasts 0 is refused at its option.)"""

from __future__ import annotations

import pytest

from modelhealth.alerting.config import parse_routing
from modelhealth.errors import ConfigError


def _config(receiver: str) -> str:
    return f"route:\n  receiver: a\nreceivers:\n  - name: a\n    {receiver}\n"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_routing(text, "r.yaml")
    return str(info.value).splitlines()


def test_a_password_in_a_webhook_url_is_refused_without_echoing_it() -> None:
    (line,) = _errors(_config("webhook: {url: 'https://ops:hunter2@alerts.example.com/in'}"))
    assert line.startswith('r.yaml:5:20: receiver "a": webhook.url: a URL with a password in it')
    assert "url_env" in line and "hunter2" not in line


def test_a_slack_incoming_webhook_url_is_refused() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
    (line,) = _errors(_config(f"slack: {{url: '{url}'}}"))
    assert "hooks.slack.com webhook URL, which is itself a credential" in line
    assert "url_env" in line and "XXXXXXXX" not in line


@pytest.mark.parametrize(
    "receiver",
    [
        "webhook: {url: 'https://alerts.example.com/in?team=risk'}",
        "webhook: {url: 'https://ops@alerts.example.com/in'}",  # a user name alone
        "slack: {url_env: SLACK_WEBHOOK_URL}",
    ],
)
def test_urls_without_a_secret_still_load(receiver: str) -> None:
    assert parse_routing(_config(receiver), "r.yaml").receivers["a"].kind in ("webhook", "slack")


def test_a_zero_length_silence_names_the_option_and_creates_nothing(tmp_path, capsys) -> None:
    """``silence add --for 0s`` said "silence ends (<now>) must be after it starts"."""
    from modelhealth.alerting.silences import silence_main

    db = tmp_path / "alerts.db"
    code = silence_main(["add", "model=fraud", "--for", "0s", "-c", "why", "--db", str(db)])
    assert code == 2 and not db.exists()
    err = capsys.readouterr().err
    assert err.strip() == "error: --for '0s': a silence must last longer than 0, e.g. 30m or 2h"
