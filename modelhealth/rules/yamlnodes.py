"""Safe YAML loading that keeps line numbers, so every config error can name file:line:col.

We compose the YAML into PyYAML's node tree with the *safe* loader (no tags that build Python
objects) and walk it ourselves; errors are collected, never raised at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from modelhealth.errors import ConfigIssue, SourcePos


@dataclass
class Node:
    """A YAML value with its position; ``value`` is a dict/list of Nodes or a plain scalar."""

    value: Any
    pos: SourcePos

    def plain(self) -> Any:
        """The Python value with positions stripped."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


_CONSTRUCTOR = yaml.SafeLoader("")


def _pos(file: str, node: yaml.Node) -> SourcePos:
    return SourcePos(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(file: str, node: yaml.Node, issues: list[ConfigIssue]) -> Node:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = _CONSTRUCTOR.construct_object(key_node, deep=True)
            if str(key) in out:
                issues.append(ConfigIssue(_pos(file, key_node), "duplicate key", str(key)))
            out[str(key)] = _convert(file, value_node, issues)
        return Node(out, _pos(file, node))
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(file, n, issues) for n in node.value], _pos(file, node))
    try:
        value = _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. the date 2026-02-30
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}: {exc}",
            node.start_mark,
        ) from exc  # fmt: skip
    return Node(value, _pos(file, node))


def load_yaml(text: str, file: str) -> tuple[Node | None, list[ConfigIssue]]:
    """Parse ``text``; return the node tree (None on a syntax error) and any issues."""
    issues: list[ConfigIssue] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = SourcePos(file, mark.line + 1, mark.column + 1) if mark else SourcePos(file)
        return None, [ConfigIssue(pos, f"YAML syntax error: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(SourcePos(file), f"YAML error: {exc}")]
    if root is None:
        return None, [ConfigIssue(SourcePos(file, 1, 1), "file is empty")]
    try:
        return _convert(file, root, issues), issues
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        pos = SourcePos(file, mark.line + 1, mark.column + 1) if mark else SourcePos(file)
        return None, [ConfigIssue(pos, f"unsupported YAML value: {exc.problem}")]
