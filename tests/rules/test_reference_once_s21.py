"""A rule file's reference profile is read once per config load, and again at a reload.

Validating a rule file loads the profile it names (to report an unusable one with its line);
the evaluator used to load the same file a second time. Now the validated rules carry the
profile they were checked with (``RuleSpec.reference``, as ``contract`` already was), and the
evaluator takes it from them. The count is of real ``open`` calls on the profile file (a
Python audit hook), not of a patched loader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.reload import reload_rules
from modelhealth.store.duckdb import DuckDBStore

RULES = """model: fraud
reference: ref.json
rules:
  - name: feature-drift
    metric: feature.drift.psi
    window: 1h
    detector: {type: threshold, above: 0.25}
  - name: score-drift
    metric: score.drift.psi
    window: 1h
    detector: {type: threshold, above: 0.25}
"""

_watched: list[tuple[str, list[str]]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _watched and isinstance(args[0], str | os.PathLike):
        path = os.fspath(args[0])
        for target, seen in _watched:
            if path == target:
                seen.append(path)


_hooked: list[bool] = []


@contextmanager
def opens_of(path: Path) -> Iterator[list[str]]:
    """Every ``open`` of ``path`` in this process while inside the block."""
    if not _hooked:  # added once, on first use: an audit hook cannot be removed
        sys.addaudithook(_audit)
        _hooked.append(True)
    seen: list[str] = []
    _watched.append((str(path), seen))
    try:
        yield seen
    finally:
        _watched.remove((str(path), seen))


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    yield s
    s.close()


def test_a_config_load_reads_its_reference_profile_once(
    tmp_path: Path, fleet_refs, store: DuckDBStore
) -> None:
    profile = tmp_path / "ref.json"
    fleet_refs["fraud"].save(profile)
    (tmp_path / "fraud.yaml").write_text(RULES)
    with opens_of(profile) as opened:
        loaded = load_rules([tmp_path])
        ev = Evaluator(loaded.rules, store)
    assert loaded.ok, loaded.issues
    assert len(opened) == 1, "the profile was read again after validation"
    first, second = loaded.rules
    assert ev.references["fraud"] is first.reference is second.reference
    assert ev.references["fraud"] == fleet_refs["fraud"]


def test_a_reload_reads_the_changed_profile(tmp_path: Path, fleet_refs, store: DuckDBStore) -> None:
    profile = tmp_path / "ref.json"
    fleet_refs["fraud"].save(profile)
    (tmp_path / "fraud.yaml").write_text(RULES)
    loaded = load_rules([tmp_path])
    before = Evaluator(loaded.rules, store).references["fraud"]

    retrained = replace(fleet_refs["fraud"], score_counts=(1.0,) * len(before.score_counts))
    retrained.save(profile)  # a new training profile, same path; the rule file is unchanged
    with opens_of(profile) as opened:
        fresh = reload_rules([tmp_path], loaded)  # SIGHUP / POST /-/reload
        after = Evaluator(fresh.rules, store).references["fraud"]
    assert len(opened) == 1
    assert after == retrained and after != before
    assert fresh.rules[0].rule_id == loaded.rules[0].rule_id  # it hashes the path, not the content
