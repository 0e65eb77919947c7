"""README.md against the code it describes.

A newcomer follows the README literally: every command, flag, path, YAML block and default it
shows must be what the installed code does. These tests read the README itself, so an edit
to either side that drifts apart fails here instead of on a user's first afternoon.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from modelhealth.alerting.routing import load_routing
from modelhealth.rules.config import load_rules

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "modelhealth" / "demo" / "examples"

#: Each command and its subcommands, as ``modelhealth COMMAND --help`` lists them.
COMMANDS: dict[str, tuple[str, ...]] = {
    "demo": (),
    "dashboard": (),
    "rules": ("validate", "eval", "run", "backtest", "metrics"),
    "silence": ("add", "list", "expire"),
    "services": ("up", "down", "status", "fetch"),
    "pinot": ("init", "drop"),
    "contract": ("create", "validate"),
    "anomaly": ("train", "export"),
}
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def _command_spans() -> list[str]:
    """Every command line of a ```bash block (continuations joined, comments cut) and every
    inline code span outside the blocks; ``make demo DEMO_ARGS="…"`` counts as ``demo …``."""
    spans = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            spans.append(line.split("#", 1)[0].strip())
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    spans += re.findall(r"`([^`\n]+)`", prose)
    spans += [f"demo {args}" for args in re.findall(r'DEMO_ARGS="([^"]*)"', README)]
    return spans


def readme_flags() -> set[tuple[str, str]]:
    """(command, flag) for each flag the README shows after a ``modelhealth`` command."""
    found = set()
    for span in _command_spans():
        words = span.split()
        if words and words[0] == "modelhealth":
            words = words[1:]
        if not words or words[0] not in COMMANDS:
            continue
        command = [words[0]]
        if len(words) > 1 and words[1] in COMMANDS[words[0]]:
            command.append(words[1])
        for flag in FLAG.findall(" ".join(words[len(command) :])):
            found.add((" ".join(command), flag))
    return found


@cache
def _help(command: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "modelhealth.cli", *command.split(), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_command_table_here_is_the_cli_s() -> None:
    """The flag test below knows the commands from this table; it must match the CLI's."""
    from modelhealth.cli import COMMANDS as CLI

    assert set(COMMANDS) == set(CLI)
    for command, subs in COMMANDS.items():
        if subs:
            assert "{" + ",".join(subs) + "}" in _help(command), command


def test_the_readme_shows_commands_with_flags() -> None:
    """The extraction below must see the README's commands, or the flag test checks nothing."""
    flags = readme_flags()
    assert ("rules backtest", "--since") in flags
    assert ("demo", "--duration") in flags
    assert len(flags) >= 30


@pytest.mark.parametrize("command,flag", sorted(readme_flags()))
def test_every_flag_the_readme_shows_exists(command: str, flag: str) -> None:
    """A flag the README shows must be one the command takes (its --help lists it, for the
    dashboard also in the options it passes to the app)."""
    assert re.search(rf"(?<![\w-]){re.escape(flag)}\b", _help(command)), (
        f"README shows `modelhealth {command} {flag}`, which `modelhealth {command} --help` "
        "does not list"
    )


def _examples_copy(tmp_path: Path) -> Path:
    """The example configs copied, so a README rules file resolves ``../references/…``."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    return copy


def test_every_yaml_block_loads_with_the_real_loaders(tmp_path: Path) -> None:
    """Each ```yaml block is a rules file (``rules:``) or a routing file (``receivers:``) and
    loads without an error, as a user pasting it into ``examples/rules/`` gets."""
    blocks = _blocks("yaml")
    assert blocks, "the README shows no YAML block"
    copy = _examples_copy(tmp_path)
    for number, text in enumerate(blocks, 1):
        top = yaml.safe_load(text)
        if "rules" in top:
            path = copy / "rules" / f"{top['model']}.yaml"
            path.write_text(text, encoding="utf-8")
            result = load_rules([path])
            assert result.ok, [str(e) for e in result.issues]
            assert not result.notes, result.notes
            names = [r.name for r in result.rules]
            assert len(names) == len(top["rules"]), names
        elif "receivers" in top:
            path = tmp_path / f"routing{number}.yaml"
            path.write_text(text, encoding="utf-8")
            load_routing(path)
        else:
            pytest.fail(f"YAML block {number} is neither a rules nor a routing file")


def test_every_repo_path_the_readme_names_exists() -> None:
    """A file or folder the README sends a reader to must be there (globs must match)."""
    named = set(
        re.findall(r"`((?:modelhealth|benchmarks|tests|deploy|examples)/[\w./*-]+)`", README)
    )
    assert len(named) >= 20
    missing = sorted(p for p in named if not list(ROOT.glob(p.rstrip("/"))))
    assert not missing, f"README names paths that do not exist: {missing}"


def test_the_port_defaults_the_readme_lists_are_the_code_s() -> None:
    """The README lists each service port variable with its default; a user moving one port
    relies on the rest being where the README says."""
    from modelhealth.services import ports

    listed = dict(re.findall(r"`(?:MODELHEALTH)?_([A-Z_]+_PORT)` (\d+)", README))
    assert len(listed) == 7, listed
    for name, default in listed.items():
        assert getattr(ports, name) == int(default) or _env_moved(name), name


def _env_moved(name: str) -> bool:
    return f"MODELHEALTH_{name}" in os.environ


def _comment_after(metric: str) -> str:
    """The comment on the README rules block's ``metric: <metric>`` line."""
    line = next(ln for ln in _blocks("yaml")[0].splitlines() if f"metric: {metric}" in ln)
    return line.split("#", 1)[1]


def test_the_rules_block_lists_every_drift_statistic_and_quality_metric() -> None:
    """The comments of the README's rules block are where a newcomer learns the metric
    names; they listed seven of the nine drift statistics, so ``wasserstein_norm`` and
    ``chisquare_pvalue`` (which the "Drift" section recommends) looked unsupported."""
    from modelhealth.drift.metrics import DRIFT_METRICS
    from modelhealth.rules.metrics import PERFORMANCE_METRICS

    drift = _comment_after("feature.drift.psi")
    words = set(re.findall(r"\w+", drift.replace("(_", "_").replace(")", "")))
    # "wasserstein(_norm)" names both wasserstein and wasserstein_norm
    spelled = words | {w.split("_")[0] for w in words if w.endswith(("_norm", "_pvalue"))}
    assert set(DRIFT_METRICS) <= spelled, set(DRIFT_METRICS) - spelled
    quality = set(re.findall(r"\w+", _comment_after("performance.accuracy"))) | {"accuracy"}
    assert {m.split(".", 1)[1] for m in PERFORMANCE_METRICS} <= quality


def test_the_detector_list_is_the_registry() -> None:
    """The README names each detector type a rule may use; it must be the registry's."""
    from modelhealth.rules.detectors import DETECTORS

    sentence = README.split("Detectors (one file each, one conformance suite):", 1)[1]
    named = re.findall(r"`([a-z_]+)`", sentence.split(". ", 1)[0])
    assert named == list(DETECTORS)


class _ReadKeys(dict):
    """An environment that records which variables the SMTP settings read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        self.read.append(key)
        return super().get(key, default)


def test_the_smtp_variables_the_readme_lists_are_those_read() -> None:
    """Alerting mail goes through the SMTP server these variables name; the README left out
    ``_TIMEOUT`` and the defaults, so a newcomer's ``--email-to`` mail went to
    localhost:25 without a word of it in the README."""
    from modelhealth.alerting.notifiers.email import SmtpSettings

    env = _ReadKeys()
    settings = SmtpSettings.from_env(env)
    read = {k.removeprefix("MODELHEALTH_SMTP") for k in env.read}
    paragraph = README.split("Secrets never live in YAML:", 1)[1].split("the pager routing key")[0]
    listed = set(re.findall(r"`(?:MODELHEALTH_SMTP)?(_[A-Z_]+)`", paragraph))
    assert listed == read, listed ^ read
    assert "`localhost`" in paragraph and settings.host == "localhost"
    assert f"`_PORT` ({settings.port};" in paragraph
    assert f"`_TIMEOUT` ({settings.timeout:g} s)" in paragraph


def _table_pairs() -> set[tuple[str, str]]:
    """(model, rule) for each incident row of the README's demo table."""
    table = README.split("| when (t0 = start) |", 1)[1].split("\n\n", 1)[0]
    pairs = set()
    for row in table.splitlines()[2:]:
        cells = row.split("|")
        model = re.findall(r"`([a-z_]+)", cells[2])
        if not model:
            continue
        # the rule named first, then any "its `rule`" / "and `rule`" that fires beside it
        for rule in re.findall(r"`([a-z0-9-]+)`", cells[3]):
            pairs.add((model[0], rule))
    return pairs


def test_the_demo_table_lists_every_rule_that_fires_at_t0(seeded_store, fleet_refs) -> None:
    """A newcomer compares the demo's table with the dashboard's firing alerts. The table
    named four rules while six fired (ranker's ``feature-drift`` on the constant feature,
    fraud's ``data-contract`` on the null spike), so two alerts looked like false alarms."""
    from datetime import timedelta

    from modelhealth.rules.evaluator import Evaluator
    from tests.conftest import T0

    rules = load_rules([EXAMPLES / "rules"])
    assert rules.ok, rules.issues
    ev = Evaluator(rules.rules, seeded_store, references=fleet_refs, notify=lambda a, now: None)
    report = None
    for minute in range(15, -1, -1):  # one-minute ticks, so the rules' `for:` elapses
        report = ev.tick(T0 - timedelta(minutes=minute))
    assert report is not None and not report.errors, report.errors
    firing = {(a.labels["model"], a.labels["alertname"]) for a in report.firing}
    assert firing == _table_pairs()


def test_the_demo_s_later_dashboard_command_opens_its_alerts_and_rules(tmp_path: Path) -> None:
    """The Pinot demo prints how to open its data again later. That command lacked
    ``--rules`` and ``--state-dir``, so the dashboard it opened had an empty Alerts page
    ("Start the dashboard with --state-dir") and no rules; the README showed the example
    rules, without the demo's learned rule. Both now name the demo's own folders."""
    import shlex

    from modelhealth.dashboard.context import parse_settings
    from modelhealth.demo import wiring

    backend = wiring.Backend(
        "pinot", sink=None, store=None, pinot_url="http://127.0.0.1:8099", pinot_namespace="demo_"
    )  # type: ignore[arg-type]
    out = tmp_path / "demo output"
    line = wiring.pinot_banner(backend, out / "config" / "rules", out / "state")
    argv = shlex.split(line.split("later: ", 1)[1])
    assert argv[:2] == ["modelhealth", "dashboard"]
    settings = parse_settings(argv[2:])
    assert (settings.rules_dir, settings.state_dir) == (out / "config" / "rules", out / "state")
    shown = next(
        s
        for s in _command_spans()
        if s.startswith("modelhealth dashboard --pinot") and "--rules" in s
    )
    args = shlex.split(shown)[2:]
    del args[args.index("--port") : args.index("--port") + 2]  # the launcher's, not the app's
    readme = parse_settings(args)
    assert readme.namespace == "demo_"
    assert (readme.rules_dir, readme.state_dir) == (
        Path("demo-output/config/rules"),
        Path("demo-output/state"),
    )
