"""Safe YAML loading that keeps line numbers, so every config error can name file:line:col.

We compose the YAML into PyYAML's node tree with the *safe* loader (no tags that build Python
objects) and walk it ourselves; errors are collected, never raised at the first one.

Merge keys (``<<: *base``) follow ``yaml.safe_load``: the mappings are merged in, explicit keys
win, and among several merged mappings the first listed wins (the YAML merge-key spec; PyYAML
6.0.4 picks by the identity of the key strings instead); merged values keep the line of the
mapping they were written in. A scalar that cannot be read (the date ``2026-02-30``) and a
key written twice do not lose the file: they are recorded on the node (:func:`problems`) so
the config loader can report them with the rule and field they belong to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from modelhealth.errors import ConfigIssue, SourcePos

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_NAMES = {"timestamp": "date/time", "int": "integer", "float": "number", "bool": "boolean"}


@dataclass
class Node:
    """A YAML value with its position; ``value`` is a dict/list of Nodes or a plain scalar.

    ``text`` is a scalar's text as written (``1.10`` where ``value`` is the float 1.1);
    ``error`` says why a scalar could not be read (its ``value`` is then that text);
    ``dupes`` are the keys a mapping repeats, each with the position of the repetition."""

    value: Any
    pos: SourcePos
    text: str | None = None
    error: str | None = None
    dupes: tuple[tuple[str, SourcePos, SourcePos], ...] = ()

    def __repr__(self) -> str:
        """The value as the owner wrote it (``['30m']``): messages show a wrong value with
        ``{n.value!r}``, and a list or mapping of Nodes printed each one's position and
        text (``[Node(value='30m', pos=SourcePos(...), ...)]``) to the owner."""
        return repr(self.plain())

    def plain(self) -> Any:
        """The Python value with positions stripped."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def problems(node: Node, path: str = "") -> Iterator[tuple[SourcePos, str, str, bool]]:
    """Every unreadable value and repeated key under ``node``: (position, field, message,
    unreadable), the field a dotted path below ``path`` (``baseline.from``, ``labels.team``);
    ``unreadable`` is False for a repeated key (whose last value is still read)."""
    if node.error is not None:
        yield node.pos, path, node.error, True
    if isinstance(node.value, dict):
        for key, first, again in node.dupes:
            where = f"{path}.{key}" if path else key
            yield again, where, f"duplicate key (first at line {first.line})", False
        for key, child in node.value.items():
            yield from problems(child, f"{path}.{key}" if path else key)
    elif isinstance(node.value, list):
        for i, child in enumerate(node.value):
            yield from problems(child, f"{path}[{i + 1}]" if path else f"[{i + 1}]")


def _pos(file: str, node: yaml.Node) -> SourcePos:
    return SourcePos(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.SafeLoader("")  # one per load: its caches hold nodes
        self.done: dict[int, Node] = {}  # by id of the composed node (aliases share it)
        self.busy: set[int] = set()

    def scalar(self, node: yaml.Node) -> Node:
        pos = _pos(self.file, node)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:  # e.g. the date 2026-02-30
            self.constructor.recursive_objects.pop(node, None)
            kind = _TAG_NAMES.get(node.tag.rsplit(":", 1)[-1], node.tag.rsplit(":", 1)[-1])
            reason = getattr(exc, "problem", None) or str(exc)
            error = f"{node.value!r} is not a valid {kind}: {reason}"
            return Node(str(node.value), pos, text=str(node.value), error=error)
        return Node(value, pos, text=str(node.value))

    def key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            got = self.scalar(node)
            return str(got.text if got.error else got.value)
        return str(self.convert(node).plain())

    def merged(self, value_node: yaml.Node) -> tuple[dict[str, Node], str | None]:
        """The entries a ``<<`` value merges in (first mapping of a list wins)."""
        if isinstance(value_node, yaml.MappingNode):
            return dict(self.convert(value_node).value), None
        if isinstance(value_node, yaml.SequenceNode) and all(
            isinstance(n, yaml.MappingNode) for n in value_node.value
        ):
            out: dict[str, Node] = {}
            for sub in reversed(value_node.value):
                out.update(self.convert(sub).value)
            return out, None
        return {}, "'<<' merges a mapping or a list of mappings, e.g. <<: *base"

    def convert(self, node: yaml.Node) -> Node:
        seen = self.done.get(id(node))
        if seen is not None:  # an alias: the anchored node, converted once
            return seen
        if id(node) in self.busy:
            return Node(None, _pos(self.file, node), error="an alias may not refer to itself")
        self.busy.add(id(node))
        if isinstance(node, yaml.MappingNode):
            base: dict[str, Node] = {}
            own: dict[str, Node] = {}
            first_at: dict[str, SourcePos] = {}
            dupes: list[tuple[str, SourcePos, SourcePos]] = []
            bad_merge: Node | None = None
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    entries, why = self.merged(value_node)
                    base.update(entries)  # a later '<<' overrides an earlier one
                    if why:
                        bad_merge = Node(None, _pos(self.file, value_node), error=why)
                    continue
                key = self.key(key_node)
                at = _pos(self.file, key_node)
                if key in own:
                    dupes.append((key, first_at[key], at))
                else:
                    first_at[key] = at
                own[key] = self.convert(value_node)
            out = {**base, **own}
            if bad_merge is not None:
                out.setdefault("<<", bad_merge)
            result = Node(out, _pos(self.file, node), dupes=tuple(dupes))
        elif isinstance(node, yaml.SequenceNode):
            result = Node([self.convert(n) for n in node.value], _pos(self.file, node))
        else:
            result = self.scalar(node)
        self.busy.discard(id(node))
        self.done[id(node)] = result
        return result


def load_yaml(text: str, file: str) -> tuple[Node | None, list[ConfigIssue]]:
    """Parse ``text``; return the node tree (None on a syntax error) and any issues.

    Unreadable scalars and repeated keys are not issues here: see :func:`problems`."""
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
    return _Converter(file).convert(root), []
