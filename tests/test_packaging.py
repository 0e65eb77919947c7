"""What ``pip install .`` (and the Docker image) gets: the demo's example configs as package
data, and dependencies that match the imports.

The demo crashed when installed non-editable: its default rules were looked up in
``examples/`` beside the source tree, which an installed package does not have. The
``holt_winters`` rules detector imported statsmodels, which only the ``learn`` extra
installed; ``httpx`` (imported by the Pinot store) came only through pinotdb; ``requests``
was a core dependency nothing imported; ``nannyml`` a bench dependency no benchmark used.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from modelhealth.demo.runner import EXAMPLES, default_rules_dir

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# setuptools' build_py, the step that puts package data into a wheel, with the project's own
# package config (passed in: setuptools 65 in the venv cannot read this pyproject's PEP 639
# license, and an isolated `pip wheel` build needs the network)
BUILD_PY = """
import json, sys
from setuptools import find_namespace_packages, find_packages, setup
cfg = json.loads(sys.argv[2])
find = cfg["packages"]["find"]
finder = find_namespace_packages if find.get("namespaces", True) else find_packages
setup(
    name="modelhealth",
    packages=finder(include=find["include"]),
    package_data=cfg["package-data"],
    script_args=["-q", "build_py", "--build-lib", sys.argv[1]],
)
"""


def test_the_example_configs_are_package_data(tmp_path: Path) -> None:
    """setuptools' own build_py with the project's package config (what a wheel holds), on a
    copy of the tree, then the demo's default rules loaded from that installed layout."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "modelhealth", src / "modelhealth", ignore=shutil.ignore_patterns("__pycache__")
    )
    lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-c", BUILD_PY, str(lib), json.dumps(PYPROJECT["tool"]["setuptools"])],
        cwd=src,
        check=True,
        capture_output=True,
    )
    shipped = sorted(
        p.relative_to(lib / "modelhealth" / "demo" / "examples").as_posix()
        for p in (lib / "modelhealth" / "demo" / "examples").rglob("*")
        if p.is_file()
    )
    expected = sorted(
        p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file()
    )
    assert "rules/fraud.yaml" in expected and "references/fraud.json" in expected
    assert shipped == expected

    # the installed copy's demo finds its rules, and they load (references resolved)
    probe = (
        "from modelhealth.demo.runner import default_rules_dir\n"
        "from modelhealth.rules.config import load_rules\n"
        "d = default_rules_dir(); r = load_rules([d])\n"
        "assert r.ok and len(r.rules) > 4, r.issues\n"
        "print(d)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(lib / "modelhealth" / "demo" / "examples" / "rules")


def test_the_repo_examples_are_the_shipped_copy() -> None:
    """``examples/`` (README, docker-compose, tests) is a link to the package's copy: one set
    of files, never two drifting apart."""
    assert (ROOT / "examples").resolve() == EXAMPLES
    assert default_rules_dir() == EXAMPLES / "rules"


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(root: Path) -> dict[str, set[str]]:
    """Top-level module -> files importing it (function-level imports included)."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _third_party(root: Path, installed_only: bool = True) -> dict[str, set[str]]:
    """Distribution -> files importing it, for every non-stdlib import under ``root``.

    ``installed_only=False`` names a module that is not installed by itself (the benchmarks'
    peers come with the ``bench`` extra, which ``make test`` does not install)."""
    dists = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in _imports(root).items():
        if module in sys.stdlib_module_names or module in ("__future__", "modelhealth", root.name):
            continue
        if module in {p.stem for p in root.glob("*.py")}:  # a sibling script (benchmarks/)
            continue
        if module not in dists and not installed_only:
            out.setdefault(module.lower().replace("_", "-"), set()).update(files)
            continue
        assert module in dists, f"{module} imported by {sorted(files)} is not installed"
        for dist in dists[module]:
            out.setdefault(dist.lower().replace("_", "-"), set()).update(files)
    return out


def test_dependencies_match_the_imports() -> None:
    project = PYPROJECT["project"]
    core = {_dist(r) for r in project["dependencies"]}
    extras = {k: {_dist(r) for r in v} for k, v in project["optional-dependencies"].items()}
    declared = core.union(*extras.values())
    used = _third_party(ROOT / "modelhealth")

    undeclared = {d: sorted(f) for d, f in used.items() if d not in declared}
    assert not undeclared, f"imported but declared nowhere: {undeclared}"
    # the rules engine and its detectors are core: a plain install runs every rule it validates
    rules_only_extra = {
        d: sorted(f for f in files if f.startswith("modelhealth/rules/"))
        for d, files in used.items()
        if d not in core and any(f.startswith("modelhealth/rules/") for f in files)
    }
    assert not rules_only_extra, f"rules code imports non-core packages: {rules_only_extra}"
    assert core <= set(used), f"core dependencies nothing imports: {sorted(core - set(used))}"
    pinot_store = {d for d, f in used.items() if "modelhealth/store/pinot.py" in f}
    assert pinot_store - core <= extras["pinot"], "the Pinot store's imports must be in [pinot]"

    bench_used = _third_party(ROOT / "benchmarks", installed_only=False)
    unused_bench = extras["bench"] - set(bench_used)
    assert not unused_bench, f"bench extra packages no benchmark imports: {sorted(unused_bench)}"
