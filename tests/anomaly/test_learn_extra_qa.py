"""Without the ``learn`` extra (a plain ``pip install .``) every entry to the learned detector
says which packages are missing and how to install them. The old guard lived in
``anomaly/model.py``, whose imports pull in bottleneck: the check itself crashed with
``ModuleNotFoundError: No module named 'bottleneck'`` and only ever looked for LightGBM.

Each test runs a fresh interpreter in which the named packages cannot be imported
(``sys.modules[name] = None``, as when they are not installed); nothing of ours is mocked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HINT = "pip install 'modelhealth[learn]'"


def _without(packages: list[str], *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``modelhealth ARGV`` in an interpreter where ``packages`` are not importable."""
    code = (
        "import sys\n"
        f"for name in {packages!r}:\n"
        "    sys.modules[name] = None\n"
        "from modelhealth.cli import main\n"
        "sys.exit(main())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_check_names_every_missing_package_and_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['bottleneck'] = None\n"
        "sys.modules['lightgbm'] = None\n"
        "from modelhealth.anomaly import learn_extra_problem\n"
        "print(learn_extra_problem())\n"
        "print('pandas' in sys.modules, 'modelhealth.anomaly.model' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    problem, heavy = done.stdout.strip().splitlines()
    assert "lightgbm" in problem and "bottleneck" in problem and HINT in problem
    assert heavy == "False False", done.stdout


def test_anomaly_train_without_bottleneck_is_one_line_with_the_install_hint(
    tmp_path: Path,
) -> None:
    done = _without(["bottleneck"], "anomaly", "train", "simulated", "--out", "m1", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("anomaly train: ") and "bottleneck" in lines[0] and HINT in lines[0]
    assert not (tmp_path / "m1").exists()


def test_a_learned_rule_without_the_extra_is_a_config_error_with_the_install_hint(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fraud.yaml").write_text(
        "model: fraud\n"
        "rules:\n"
        "  - name: p99-learned\n"
        "    metric: latency.p99\n"
        "    window: 5m\n"
        "    detector: {type: learned, model: ../models/latency}\n"
    )
    done = _without(["bottleneck"], "rules", "validate", str(rules), cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "fraud.yaml" in out and "bottleneck" in out and HINT in out, out
    assert "ModuleNotFoundError" not in out and "Traceback" not in out, out


def test_the_demo_without_bottleneck_skips_the_learned_rules_and_runs(tmp_path: Path) -> None:
    """The whole demo, as after ``pip install .``: it used to crash once the backfill was done."""
    out = tmp_path / "demo"
    done = _without(
        ["bottleneck"],
        "demo",
        "--out",
        str(out),
        "--days",
        "0.1",
        "--duration",
        "0",
        "--no-dashboard",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    skipped = [line for line in done.stdout.splitlines() if "learned detector: skipped" in line]
    assert len(skipped) == 1 and "bottleneck" in skipped[0] and HINT in skipped[0], done.stdout
    assert not list((out / "config" / "rules").glob("*.learned.yaml"))
