"""Which issues of a rules load skipped rules, and the one line that says what was left out.

Most issues skip something: a broken rule, or a whole file. One kind does not: a rules file
whose ``contract:`` has a bad column (or ``custom:``) entry loads every rule, and its
``contract.*`` rules judge the other columns (:func:`modelhealth.rules.contract.file_contract`).
It is still an error (``rules validate``/``eval``/``backtest`` exit 1), but the command line
said "those rules are skipped" of it, and ``rules run`` kept the file's previous rules on a
reload, so an edit to any other rule of that file waited for the contract to be fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelhealth.errors import ConfigIssue


@dataclass(frozen=True)
class PartialContract(ConfigIssue):
    """A contract read without its bad entries: reported like any issue (same text), but no
    rule is skipped for it."""


def skips_rules(issue: ConfigIssue) -> bool:
    """Whether ``issue`` left rules out of the load (every issue but :class:`PartialContract`)."""
    return not isinstance(issue, PartialContract)


def files_with_skipped_rules(issues: Sequence[ConfigIssue]) -> set[str]:
    """The files an issue left rules out of: their previous rules stay in force on a reload,
    and alerts of rules no longer loaded are not resolved as deleted."""
    return {issue.pos.file for issue in issues if skips_rules(issue)}


def load_summary(issues: Sequence[ConfigIssue], running: int) -> str:
    """The line ``rules eval``/``run``/``backtest`` print after a load's errors ("" without
    any), saying which errors skipped rules and which only left part of a contract out.

    >>> load_summary([], 3)
    ''
    """
    if not issues:
        return ""
    skipping = sum(1 for issue in issues if skips_rules(issue))
    partial = len(issues) - skipping
    where = "a data contract" if partial == 1 else "data contracts"
    left_out = "the contract.* rules leave those entries out until fixed"
    if not skipping:
        return (
            f"rules: {len(issues)} error(s) above, in {where} read without the bad entries"
            f" named: no rule is skipped, all {running} run ({left_out})"
        )
    if not partial:
        return (
            f"rules: {len(issues)} error(s) above: those rules are skipped, the other {running}"
            " run; alerts of skipped rules stay as they were"
        )
    return (
        f"rules: {len(issues)} error(s) above: {skipping} skip rules, the other {running} run"
        f" (alerts of skipped rules stay as they were); {partial} in {where} read without the"
        f" bad entries named skip none ({left_out})"
    )
