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

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.reader

from modelhealth.errors import ConfigIssue, SourcePos

_MERGE_TAG = "tag:yaml.org,2002:merge"
_SAFE_TAGS = frozenset(t for t in yaml.SafeLoader.yaml_constructors if t) - {_MERGE_TAG}
"""Tags the safe loader builds a plain value for; any other (``!!python/object/apply``,
``!custom``) is refused. A list or mapping under such a tag used to be read as a plain one,
the tag silently dropped."""
_EXPECTED = {"date/time": "expected a date like 2026-01-01 or 2026-01-01T12:00:00Z"}
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


def _tag_refused(node: yaml.Node) -> str:
    """Why a value with a tag the safe loader has no plain value for is refused."""
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    if node.tag == _MERGE_TAG:  # a bare `<<` written as a value
        return "'<<' merges mappings as a key (<<: *base); quote it to mean the text '<<'"
    return (
        f"the tag {tag} is not allowed: a config holds plain values (text, numbers, lists,"
        " mappings), never Python objects; remove the tag"
    )


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
        if node.tag not in _SAFE_TAGS:
            return Node(str(node.value), pos, text=str(node.value), error=_tag_refused(node))
        try:
            value = self.constructor.construct_object(node, deep=True)
        except Exception as exc:  # the date 2026-02-30, `!!timestamp nope`
            # (PyYAML's constructors raise ValueError, OverflowError, AttributeError, ... for
            # a value that does not fit an explicit tag: each is one unreadable value)
            self.constructor.recursive_objects.pop(node, None)
            kind = _TAG_NAMES.get(node.tag.rsplit(":", 1)[-1], node.tag.rsplit(":", 1)[-1])
            if isinstance(exc, ValueError | OverflowError | yaml.YAMLError):
                reason = getattr(exc, "problem", None) or str(exc)
            else:  # PyYAML's own slip (`!!timestamp nope`: 'NoneType' has no 'groupdict')
                reason = _EXPECTED.get(kind, f"PyYAML cannot read it as a {kind}")
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
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _SAFE_TAGS:
            result = Node(None, _pos(self.file, node), error=_tag_refused(node))
        elif isinstance(node, yaml.MappingNode):
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
    root, issues = compose(text, file)
    if issues:
        return None, issues
    if root is None:
        return None, [ConfigIssue(SourcePos(file, 1, 1), "file is empty")]
    return _Converter(file).convert(root), []


MAX_DEPTH = 100
"""How deeply lists and mappings may nest in a config (the deepest real one nests about 10):
PyYAML composes recursively, so 1,000 ``[`` raised a RecursionError traceback."""
MAX_EXPANDED = 100_000
"""How many values a document may hold once its aliases are expanded. Nine nested aliases of
nine (a "billion laughs") compose to 90 nodes but expand to 387 million; walking them (for
repeated keys, error messages) hung the loader."""
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


_TOO_DEEP = (
    f"lists and mappings nested more than {MAX_DEPTH} levels deep; a config nests a few"
    " levels (check for unbalanced '[' or '{')"
)


class _DepthError(yaml.MarkedYAMLError):
    """A document nested deeper than :data:`MAX_DEPTH`, at the value that goes too deep."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing to compose a document nested deeper than MAX_DEPTH."""

    depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """Refuse ``[``/``{`` nested past MAX_DEPTH as soon as it is read: PyYAML's scanner
        rechecks every open bracket at each token, so 100,000 ``[`` took minutes before
        the composer's own depth check was reached."""
        if self.flow_level >= MAX_DEPTH:
            raise _DepthError(None, None, _TOO_DEEP, self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _DepthError(None, None, _TOO_DEEP, mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def compose(
    text: str, file: str, syntax: str = "YAML syntax error"
) -> tuple[yaml.Node | None, list[ConfigIssue]]:
    """``text`` composed into PyYAML's node tree with the safe loader (None for an empty
    document), or the issue that stops it, always at ``file:line:col``: a syntax error, a
    character YAML refuses (NUL, most control characters), nesting deeper than
    :data:`MAX_DEPTH`, an alias that refers to the value it is in, or aliases expanding to
    more than :data:`MAX_EXPANDED` values. Shared by the rules, routing and contract
    loaders, so each refuses the same inputs with the same words; ``syntax`` starts the
    message of a syntax error (each loader keeps its own wording)."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # checks the characters first
        root = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        return None, [_reader_issue(text, file, exc)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = SourcePos(file, mark.line + 1, mark.column + 1) if mark else SourcePos(file, 1, 1)
        head = "" if isinstance(exc, _DepthError) else f"{syntax}: "
        return None, [ConfigIssue(pos, f"{head}{exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(SourcePos(file, 1, 1), f"YAML error: {exc}")]
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return None, []
    problem = _alias_problem(root, file)
    return (None, [problem]) if problem else (root, [])


def _reader_issue(text: str, file: str, exc: yaml.reader.ReaderError) -> ConfigIssue:
    """A character YAML does not accept, at its line and column (PyYAML gives an offset)."""
    before = text[: exc.position]
    lines = _LINE_BREAKS.split(before)
    pos = SourcePos(file, len(lines), len(lines[-1]) + 1)
    char = exc.character  # the code point (a byte for bytes input, never given here)
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return ConfigIssue(
        pos,
        f"the character {shown} is not allowed in YAML ({exc.reason}); remove it, or write it"
        ' as an escape in a double-quoted string (e.g. "\\x07")',
    )


def _alias_problem(root: yaml.Node, file: str) -> ConfigIssue | None:
    """An alias inside the value it refers to, or aliases that expand the document past
    :data:`MAX_EXPANDED` values, at the value where it happens; None when neither."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()
    found: list[ConfigIssue] = []

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            at = SourcePos(file, node.start_mark.line + 1, node.start_mark.column + 1)
            found.append(ConfigIssue(at, "an alias may not refer to the value it is in"))
            return 1
        busy.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if found:
                break
        busy.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED and not found and total > 4 * len(sizes):
            at = SourcePos(file, node.start_mark.line + 1, node.start_mark.column + 1)
            found.append(
                ConfigIssue(
                    at,
                    f"aliases expand this value to more than {MAX_EXPANDED:,} values (aliases"
                    " of aliases, a 'billion laughs'); write the values out instead",
                )
            )
        return total

    size(root)
    return found[0] if found else None
