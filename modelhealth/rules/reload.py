"""Picking up edited rule files in a running scheduler (``rules run``) without a restart.

Prometheus re-reads its rules on SIGHUP and keeps the old ones when the new ones do not
load; a ThirdEye owner's edit takes effect without anyone redeploying. ``rules run`` looks at
its files' names, sizes and modification times before every tick (and at once on SIGHUP)
and reloads when they changed. A file that now has errors keeps the rules it had, so a
half-saved edit or a typo never silences a model's alerts: the errors are logged with file,
line and field, and every other file's edit takes effect. The alert state carries over as on
a restart: an edited rule's alerts go on (``Evaluator._adopt_orphans``), a deleted rule's
resolve.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from modelhealth.rules.config import LoadResult, load_rules, rule_files

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def files_fingerprint(paths: Sequence[str | Path]) -> Fingerprint:
    """Name, size and modification time of every rule file under ``paths``: a new, deleted,
    renamed or edited file changes it. Cheap enough for every tick (a stat per file)."""
    out = []
    for file in rule_files(paths):
        try:
            st = os.stat(file)
        except OSError:
            out.append((str(file), -1, -1))  # gone between the listing and the stat
            continue
        out.append((str(file), st.st_size, st.st_mtime_ns))
    return tuple(out)


def reload_rules(paths: Sequence[str | Path], current: LoadResult) -> LoadResult:
    """Load ``paths`` again; a file with errors now keeps its rules from ``current``.

    The result's ``issues`` are the new load's (so the caller logs them and keeps alerts of
    rules it could not load), its ``rules`` the new rules of every clean file plus the kept
    rules of the broken ones, minus any whose name is now taken by another file's rule."""
    fresh = load_rules(paths)
    broken = {issue.pos.file for issue in fresh.issues}
    if not broken:
        return fresh
    rules = [r for r in fresh.rules if r.source.file not in broken]
    taken = {(r.model, r.name) for r in rules}
    for old in current.rules:
        if old.source.file not in broken:
            continue
        if (old.model, old.name) in taken:
            log.warning(
                "%s: rule %r of model %r now defined elsewhere; the broken file's copy is dropped",
                old.source.file, old.name, old.model,
            )  # fmt: skip
            continue
        rules.append(old)
        taken.add((old.model, old.name))
    kept = sorted(broken & {r.source.file for r in current.rules})
    for file in kept:
        log.warning("%s has errors: its previous rules stay in force until it loads", file)
    return LoadResult(rules=rules, issues=fresh.issues, files=fresh.files, notes=fresh.notes)
