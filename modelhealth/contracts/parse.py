"""Reading a contract file: YAML/JSON parsing with a file:line:col position for every issue."""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from modelhealth.contracts.datamodel import (
    DEFAULT_THRESHOLDS,
    ColumnContract,
    CustomCheck,
    DataContract,
)
from modelhealth.contracts.problems import (
    _is_finite,
    _numbers,
    _shown,
    _special_key_problems,
    column_problems,
    custom_problems,
    top_level_problems,
)
from modelhealth.errors import ConfigError, ConfigIssue, SourcePos, undecodable_at
from modelhealth.ingestion.reference import DEFAULT_SPECIAL_VALUES
from modelhealth.rules.yamlnodes import compose


def read_contract_text(p: Path) -> str:
    """The text of contract file ``p``. A missing file or a folder is an OSError whose
    ``strerror`` says what was expected (the bare ``No such file or directory`` of
    ``read_text`` said nothing of how to make one); a byte that is not UTF-8 a ConfigError
    located by line and column."""

    if not p.exists():
        raise FileNotFoundError(
            errno.ENOENT,
            "no such contract file (write one with `modelhealth contract create --model M "
            "--reference training.csv`)",
            str(p),
        )
    if p.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "is a folder; expected a contract file (.yaml or .json)", str(p)
        )
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = SourcePos(str(p), *undecodable_at(exc))
        why = f"byte 0x{raw[exc.start]:02x} is not UTF-8; expected a YAML or JSON text file"
        raise ConfigError([ConfigIssue(at, why)]) from None


_TOP_KEYS = {f.name for f in fields(DataContract)} - {"source", "skipped"} | {"format"}
_COLUMN_KEYS = {f.name for f in fields(ColumnContract)}
_CUSTOM_KEYS = {f.name for f in fields(CustomCheck)} - {"pos"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _marks(node: yaml.Node | None, path: tuple[object, ...] = ()) -> dict[tuple[object, ...], Any]:
    """Map every key path (``("columns", 2, "kind")``) to its YAML start mark."""
    out: dict[tuple[object, ...], Any] = {}
    if node is None:
        return out
    out[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*path, k.value)
            out.update(_marks(v, key))
            out[key] = k.start_mark
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_marks(v, (*path, i)))
    return out


def _section(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    """``raw[key]`` if it has the right shape, else empty (top_level_problems reports it)."""
    value = raw.get(key)
    return value if isinstance(value, kind) else kind()


def parse_contract(text: str, source: str = "<contract>") -> DataContract:
    """Parse contract text (YAML or JSON, which is YAML) collecting every issue."""
    contract, issues = parse_contract_partial(text, source)
    if issues:
        raise ConfigError(issues)
    return contract


def parse_contract_partial(
    text: str, source: str = "<contract>"
) -> tuple[DataContract, list[ConfigIssue]]:
    """The readable part of a contract, and every issue of the rest.

    A column or ``custom:`` entry with a problem is left out (named in ``skipped``) and the
    others kept, so ``contract validate`` reports the field's error and still checks the
    other columns. Problems that concern every column (YAML syntax, the top-level shape,
    ``model``, ``special_values``, ``thresholds``, ...) raise ConfigError: nothing could be
    checked right."""
    root, problems = compose(text, source, "not valid YAML/JSON")
    if problems:
        raise ConfigError(problems)
    raw = _construct(text, root, source)
    marks = _marks(root)
    issues: list[tuple[tuple[object, ...], ConfigIssue]] = []

    def issue(path: tuple[object, ...], msg: str, context: str = "", mark: Any = None) -> None:
        m = mark or marks.get(path) or marks.get(path[:-1]) or marks.get(())
        pos = SourcePos(source, m.line + 1, m.column + 1) if m else SourcePos(source, 1, 1)
        field_name = ".".join(str(p) for p in path)
        issues.append((path, ConfigIssue(pos, msg, field_name, context)))

    if not isinstance(raw, dict):
        issue((), "expected a mapping with model and columns")
        raise ConfigError([i for _, i in issues])
    for path, again, first in _duplicate_keys(root):
        again_msg = f"duplicate key (first at line {first.line + 1}); write each key once"
        issue(path, again_msg, _context(raw, path), mark=again)
    for k in raw:
        if k not in _TOP_KEYS:
            issue((k,), f"unknown key; expected one of {sorted(_TOP_KEYS)}")
    for req in ("model", "columns"):
        if req not in raw:
            issue((), f"missing required key {req!r}")
    raw_columns = _section(raw, "columns", list)
    specials = raw.get("special_values", list(DEFAULT_SPECIAL_VALUES))
    known = None if _numbers(specials, "special_values", "") else [float(s) for s in specials]
    for i, c in enumerate(raw_columns):
        for sub, msg, where in _column_issues(i, c, known):
            issue(("columns", i, *sub), msg, where)
    for (i, j), name in _repeated_columns(raw_columns):
        first = marks.get(("columns", i, "name"))
        where = f" (first at line {first.line + 1})" if first else ""
        issue(("columns", j, "name"), f"column {name!r} is listed twice{where}", f"column {name}")
        issue(("columns", i, "name"), f"column {name!r} is listed again below", f"column {name}")
    names = {x.get("name") for x in raw_columns if isinstance(x, dict) and _is_key(x.get("name"))}
    for i, c in enumerate(_section(raw, "custom", list)):
        for sub, msg, where in _custom_issues(c, names):
            issue(("custom", i, *sub), msg, where)
    thresholds = dict(DEFAULT_THRESHOLDS)
    for k, v in _section(raw, "thresholds", dict).items():
        if k not in DEFAULT_THRESHOLDS:
            issue(("thresholds", k), f"unknown check; expected one of {sorted(DEFAULT_THRESHOLDS)}")
        elif not (
            isinstance(v, list) and len(v) == 2 and all(_is_finite(x) for x in v) and v[0] <= v[1]
        ):
            issue(
                ("thresholds", k),
                f"expected [warning, critical] numbers, warning <= critical; got {v!r:.60}",
            )
        else:
            thresholds[k] = (float(v[0]), float(v[1]))
    for path, msg in top_level_problems(raw):
        issue(path, msg)
    fatal = [i for path, i in issues if not _skippable(path, raw)]
    if fatal:
        raise ConfigError([i for _, i in issues])
    bad = {path[:2] for path, _ in issues if path[:1] in (("columns",), ("custom",))}
    columns = {
        str(c["name"]): ColumnContract(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}
        )
        for i, c in enumerate(raw_columns)
        if ("columns", i) not in bad
    }
    skipped = tuple(
        dict.fromkeys(
            str(c.get("name", f"#{i + 1}")) if isinstance(c, dict) else f"#{i + 1}"
            for i, c in enumerate(raw_columns)
            if ("columns", i) in bad
        )
    )
    custom = tuple(
        CustomCheck(
            **{k: v for k, v in c.items() if k in _CUSTOM_KEYS},
            pos=_pos(source, marks.get(("custom", i))),
        )
        for i, c in enumerate(_section(raw, "custom", list))
        if ("custom", i) not in bad
    )
    contract = DataContract(
        model=raw["model"],
        columns=columns,
        row_count=int(raw.get("row_count") or 0),
        contract_version=int(raw.get("contract_version") or 1),
        created_from=str(raw.get("created_from") or ""),
        expected_rows=raw.get("expected_rows"),
        special_values=tuple(float(s) for s in raw.get("special_values", DEFAULT_SPECIAL_VALUES)),
        thresholds=thresholds,
        custom=custom,
        source=source,
        skipped=skipped,
    )
    return contract, [i for _, i in issues]


def _construct(text: str, root: yaml.Node | None, source: str) -> Any:
    """The Python value of a composed contract, or ConfigError at the value that cannot be
    read: ``!!python/object/...`` (the safe loader builds no objects), ``2026-02-30``, or
    ``!!timestamp nope`` (an AttributeError inside PyYAML, which used to escape as is)."""
    if root is None:
        return None
    try:  # loaded apart: constructing ``root`` would merge its ``<<`` keys into it in place
        return yaml.safe_load(text)  # safe now: ``root`` composed within the limits
    except yaml.MarkedYAMLError as exc:
        mark, why = exc.problem_mark or root.start_mark, str(exc.problem)
        if "constructor for the tag" in why:
            why += "; the safe loader builds no Python objects: remove the tag"
    except Exception:  # located below, value by value
        mark, why = _unreadable(root)
    raise ConfigError([ConfigIssue(_pos(source, mark), f"cannot read this value: {why}")])


_PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


def _unreadable(root: yaml.Node) -> tuple[Any, str]:
    """The mark of the first value (in document order) PyYAML's safe constructor fails on
    outside a plain list or mapping, and why."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            try:
                yaml.SafeLoader("").construct_document(node)
            except Exception as exc:  # any failure is this value's
                tag = node.tag.removeprefix("tag:yaml.org,2002:")
                shown = f"{node.value!r:.60}" if isinstance(node.value, str) else "it"
                return node.start_mark, f"{shown} is not a valid {tag} ({type(exc).__name__})"
        if isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
    return root.start_mark, "PyYAML could not construct it"


def _context(raw: Any, path: tuple[object, ...]) -> str:
    """``column amount`` / ``check neg_share`` for an issue inside that entry, else ``""``."""
    if not isinstance(raw, dict) or len(path) < 2 or not isinstance(path[1], int):
        return ""
    entries = raw.get(path[0])
    entry = entries[path[1]] if isinstance(entries, list) and path[1] < len(entries) else None
    if not isinstance(entry, dict):
        return ""
    if path[0] == "columns" and "name" in entry:
        return f"column {entry['name']}"
    if path[0] == "custom" and "check" in entry:
        return f"check {entry['check']}"
    return ""


def _pos(source: str, mark: Any) -> SourcePos:
    return SourcePos(source, mark.line + 1, mark.column + 1) if mark else SourcePos(source)


def _skippable(path: tuple[object, ...], raw: Mapping[str, Any]) -> bool:
    """Whether an issue at ``path`` only loses its own column, custom entry or unknown key."""
    if len(path) >= 2 and path[0] in ("columns", "custom") and isinstance(path[1], int):
        return True
    return len(path) == 1 and path[0] not in _TOP_KEYS and path[0] in raw


def _column_issues(
    i: int, c: object, special_values: Sequence[float] | None = None
) -> list[tuple[tuple[object, ...], str, str]]:
    """``(sub-path, message, context)`` of everything wrong with column entry ``i``; every
    message inside a mapping names its column (``column country``, else ``column #4``)."""
    if not isinstance(c, dict):
        return [((), "each column must be a mapping", "")]
    where = f"column {c.get('name', '#' + str(i + 1))}"
    found = [
        ((k,), f"unknown column key; expected one of {sorted(_COLUMN_KEYS)}")
        for k in c
        if k not in _COLUMN_KEYS
    ]
    if c.get("kind") not in ("numeric", "categorical"):
        found.append((("kind",), _kind_problem(c.get("kind"))))
    if "name" not in c or "dtype" not in c:
        found.append(((), "each column needs name and dtype"))
    found += column_problems(c) + _special_key_problems(c, special_values)
    return [(sub, msg, where) for sub, msg in found]


def _kind_problem(kind: object) -> str:
    """The message of a column's wrong ``kind``, with what it was and the likely intent."""
    if kind is None:
        return "missing kind: expected 'numeric' or 'categorical'"
    close = difflib.get_close_matches(str(kind), ["numeric", "categorical"], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"kind must be 'numeric' or 'categorical', got {_shown(kind)}{hint}"


def _custom_issues(c: object, columns: set[object]) -> list[tuple[tuple[object, ...], str, str]]:
    if not isinstance(c, dict) or "check" not in c:
        return [((), "each custom entry needs 'check: <registered name>'", "")]
    found = [
        ((k,), f"unknown key; expected one of {sorted(_CUSTOM_KEYS)}", "")
        for k in c
        if k not in _CUSTOM_KEYS
    ]
    found += [(sub, msg, f"check {c['check']}") for sub, msg in custom_problems(c)]
    if _is_key(c.get("column")) and c["column"] not in columns:
        found.append((("column",), f"column {c['column']!r} is not in the contract", ""))
    return found


def _is_key(value: object) -> bool:
    """Whether ``value`` can name a column (a list or mapping written as a name cannot be
    looked up: it raised TypeError, unhashable, instead of the field's own error)."""
    return isinstance(value, str)


def _repeated_columns(raw_columns: list[Any]) -> list[tuple[tuple[int, int], str]]:
    """``((first index, repeat index), name)`` of every column name listed more than once:
    a second listing silently replaced the first, whichever of the two was right."""
    first: dict[str, int] = {}
    out = []
    for j, c in enumerate(raw_columns):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            continue
        if c["name"] in first:
            out.append(((first[c["name"]], j), c["name"]))
        else:
            first[c["name"]] = j
    return out


def _duplicate_keys(
    node: yaml.Node | None, path: tuple[object, ...] = ()
) -> Iterator[tuple[tuple[object, ...], Any, Any]]:
    """``(key path, mark of the repeat, mark of the first)`` of every key a mapping repeats.

    YAML loaders keep the last value silently, so ``min: 0.41`` then ``min: 50`` checked
    against 50; the rules loader refuses the same (modelhealth.rules.yamlnodes)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, Any] = {}
        for k, v in node.value:
            if k.tag == _MERGE_TAG or not isinstance(k, yaml.ScalarNode):
                continue
            if k.value in seen:
                yield (*path, k.value), k.start_mark, seen[k.value]
            else:
                seen[k.value] = k.start_mark
            yield from _duplicate_keys(v, (*path, k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _duplicate_keys(v, (*path, i))
