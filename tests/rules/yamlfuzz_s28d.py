"""A seeded mutation fuzzer for the YAML config loaders (rules, routing, contracts).

No hypothesis: ``random.Random(seed)`` mutates a parsed example config (structural
mutations on the tree: delete or duplicate a key, swap a value for another type, anchors,
aliases, merge keys, tags, deep nesting) or its text (truncation, tabs, BOM, bad bytes,
alias bombs), and emits YAML text. The same seed always yields the same cases, so a failure
names a case that can be replayed with :func:`case`.

The invariant the tests assert (:func:`check_issues`): a loader returns, or reports
``ConfigIssue``\\ s whose text starts with ``file:line`` and says something; it never raises
anything else and never hangs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import re
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelhealth.errors import ConfigIssue

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "modelhealth" / "demo" / "examples"


@dataclass(frozen=True)
class Raw:
    """YAML text written as is where a value (or key) goes: aliases, tags, odd scalars."""

    text: str


@dataclass
class Pairs:
    """A mapping that may repeat a key (a dict cannot)."""

    items: list[tuple[Any, Any]]


@dataclass
class Anchored:
    """A value written with an anchor ``&name``."""

    name: str
    value: Any


ODD_VALUES: list[Any] = [
    0,
    -5,
    1.5,
    -0.0,
    10**400,
    -(10**400),
    Raw(".nan"),
    Raw(".inf"),
    Raw("-.inf"),
    Raw("1e400"),
    "",
    None,
    True,
    False,
    [],
    {},
    [1, "a", None],
    {"x": 1},
    {"x": {"y": [1, {"z": None}]}},
    "x" * 20_000,
    "ünïcødé ✓ 🚀",
    "tab\there",
    "ctrl\x07\x1b[31m",
    "cr\r\nlf",
    Raw('"nul\\0byte"'),
    'a"; DROP TABLE x;--',
    "name with spaces",
    "'quoted'",
    "0s",
    "-5m",
    "1e9h",
    "P1D",
    "1h30m",
    "9" * 400 + "w",
    "* * *",
    "61 25 * * *",
    "*/0 * * * *",
    "0.5",
    "1e-3",
    "1e999",
    "nan",
    "true",
    Raw("2026-02-30"),
    Raw("2026-01-01"),
    Raw("1.10"),
    Raw("0x1F"),
    Raw("0o17"),
    Raw("1_000"),
    Raw("12:30:00"),
    Raw("!!python/object/apply:os.system ['echo pwned']"),
    Raw("!!python/name:os.system"),
    Raw("!!binary aGVsbG8="),
    Raw("!!set {a, b}"),
    Raw("!!omap [{a: 1}]"),
    Raw("!!float abc"),
    Raw("!!int 1.5"),
    Raw("!!timestamp nope"),
    Raw("!custom 1"),
    Raw("!!str"),
    Raw("~"),
    Raw("<<"),
    Raw("[[[[[[[[[[1]]]]]]]]]]"),
    Raw("{a: {b: {c: {d: {e: {}}}}}}"),
]


def _scalar(v: Any) -> str:
    if isinstance(v, Raw):
        return v.text
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict | Pairs) and not _entries(v):
        return "{}"
    if isinstance(v, list) and not v:
        return "[]"
    raise TypeError(v)


def _entries(v: dict | Pairs) -> list[tuple[Any, Any]]:
    return list(v.items) if isinstance(v, Pairs) else list(v.items())


def _is_block(v: Any) -> bool:
    if isinstance(v, Anchored):
        return _is_block(v.value)
    return (isinstance(v, dict | Pairs) and bool(_entries(v))) or (isinstance(v, list) and bool(v))


def _key(k: Any) -> str:
    if isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k):
        return k
    return _scalar(k)


def _head(v: Any) -> tuple[str, Any]:
    """``(anchor prefix, value)`` of a possibly anchored value."""
    if isinstance(v, Anchored):
        return f"&{v.name} ", v.value
    return "", v


def emit(v: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines of ``v`` (a tree of dict/Pairs/list/scalars/Raw/Anchored)."""
    pad = " " * indent
    anchor, v = _head(v)
    if isinstance(v, dict | Pairs):
        lines = []
        for k, val in _entries(v):
            a, inner = _head(val)
            if _is_block(inner):
                lines.append(f"{pad}{_key(k)}: {a}".rstrip())
                lines += emit(inner, indent + 2)
            else:
                lines.append(f"{pad}{_key(k)}: {a}{_scalar(inner)}")
        return lines
    if isinstance(v, list):
        lines = []
        for item in v:
            a, inner = _head(item)
            if _is_block(inner):
                if a:
                    lines.append(f"{pad}- {a}".rstrip())
                    lines += emit(inner, indent + 2)
                else:
                    sub = emit(inner, indent + 2)
                    lines.append(f"{pad}- {sub[0][indent + 2 :]}")
                    lines += sub[1:]
            else:
                lines.append(f"{pad}- {a}{_scalar(inner)}")
        return lines
    return [f"{pad}{anchor}{_scalar(v)}"]


def to_text(tree: Any) -> str:
    if not _is_block(tree):
        return _scalar(_head(tree)[1]) + "\n"
    return "\n".join(emit(tree)) + "\n"


# -- tree paths -----------------------------------------------------------------------------


def _children(v: Any) -> list[tuple[Any, Any]]:
    if isinstance(v, Anchored):
        return _children(v.value)
    if isinstance(v, Pairs):  # keys may repeat: a child is named by its place
        return [(("pair", i), val) for i, (_, val) in enumerate(v.items)]
    if isinstance(v, dict):
        return list(v.items())
    if isinstance(v, list):
        return list(enumerate(v))
    return []


def paths(v: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path below the root, preorder (document order)."""
    out = []
    for k, child in _children(v):
        out.append((*at, k))
        out += paths(child, (*at, k))
    return out


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        tree = _head(tree)[1]
        tree = tree.items[k[1]][1] if isinstance(tree, Pairs) else tree[k]
    return tree


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _head(_get(tree, path[:-1]))[1]
    k = path[-1]
    if isinstance(parent, Pairs):
        parent.items[k[1]] = (parent.items[k[1]][0], value)
    else:
        parent[k] = value
    return tree


def _delete(tree: Any, path: tuple[Any, ...]) -> Any:
    parent = _head(_get(tree, path[:-1]))[1]
    k = path[-1]
    if isinstance(parent, Pairs):
        del parent.items[k[1]]
    else:
        del parent[k]
    return tree


def _as_pairs(tree: Any, path: tuple[Any, ...]) -> Pairs | None:
    """The mapping at ``path`` turned into Pairs in place (None when it is no mapping)."""
    node = _get(tree, path)
    anchored = node if isinstance(node, Anchored) else None
    node = _head(node)[1]
    if not isinstance(node, dict | Pairs):
        return None
    pairs = node if isinstance(node, Pairs) else Pairs(list(node.items()))
    if anchored is not None:
        anchored.value = pairs
    else:
        tree = _set(tree, path, pairs) if path else tree
    return pairs


# -- structural mutations -------------------------------------------------------------------


def _mappings(tree: Any) -> list[tuple[Any, ...]]:
    return [p for p in [(), *paths(tree)] if isinstance(_head(_get(tree, p))[1], dict | Pairs)]


def m_delete(rnd: random.Random, tree: Any) -> Any:
    ps = paths(tree)
    return _delete(tree, rnd.choice(ps)) if ps else tree


def m_replace(rnd: random.Random, tree: Any) -> Any:
    ps = paths(tree)
    if not ps:
        return rnd.choice(ODD_VALUES)
    return _set(tree, rnd.choice(ps), copy.deepcopy(rnd.choice(ODD_VALUES)))


def m_duplicate_key(rnd: random.Random, tree: Any) -> Any:
    maps = [p for p in _mappings(tree) if _children(_get(tree, p))]
    if not maps:
        return tree
    pairs = _as_pairs(tree, rnd.choice(maps))
    if pairs is not None:
        k, v = rnd.choice(pairs.items)
        again = rnd.choice([v, rnd.choice(ODD_VALUES)])
        pairs.items.append((k, copy.deepcopy(again)))
    return _as_tree(tree, pairs)


def _as_tree(tree: Any, _: Any) -> Any:
    return tree


def m_odd_key(rnd: random.Random, tree: Any) -> Any:
    maps = _mappings(tree)
    pairs = _as_pairs(tree, rnd.choice(maps)) if maps else None
    if pairs is not None:
        key = rnd.choice([Raw("? [a, b]"), Raw("[1, 2]"), Raw("{a: 1}"), 1, None, True, 1.5,
                          "", "x" * 500, "name ", Raw("!!python/object:os.system x"),
                          Raw("~"), Raw(".nan"), Raw("2026-01-01")])  # fmt: skip
        if isinstance(key, Raw) and key.text.startswith("?"):
            key = Raw("[a, b]")
        pairs.items.insert(rnd.randrange(len(pairs.items) + 1), (key, rnd.choice(ODD_VALUES)))
    return tree


def m_alias(rnd: random.Random, tree: Any) -> Any:
    """Anchor one node and refer to it later (as a value, or merged with ``<<:``)."""
    ps = paths(tree)
    if len(ps) < 2:
        return tree
    i = rnd.randrange(len(ps) - 1)
    src = ps[i]
    later = [p for p in ps[i + 1 :] if p[: len(src)] != src]
    if not later:
        return tree
    dst = rnd.choice(later)
    name = f"a{i}"
    _set(tree, src, Anchored(name, _get(tree, src)))
    target = _head(_get(tree, dst))[1]
    if isinstance(target, dict | Pairs) and rnd.random() < 0.6:
        pairs = _as_pairs(tree, dst)
        if pairs is not None:
            pairs.items.insert(0, (Raw("<<"), Raw(f"*{name}")))
        return tree
    return _set(tree, dst, Raw(f"*{name}"))


def m_merge_odd(rnd: random.Random, tree: Any) -> Any:
    maps = _mappings(tree)
    pairs = _as_pairs(tree, rnd.choice(maps)) if maps else None
    if pairs is not None:
        pairs.items.append((Raw("<<"), rnd.choice([1, "x", None, [1, 2], Raw("[{a: 1}, 2]"),
                                                    Raw("{}"), Raw("[]")])))  # fmt: skip
    return tree


def m_deep(rnd: random.Random, tree: Any) -> Any:
    depth = rnd.choice([50, 200, 2000, 20000])
    flow = "[" * depth + "]" * depth if rnd.random() < 0.5 else "{a: " * depth + "}" * depth
    value = Raw(flow)
    ps = paths(tree)
    return _set(tree, rnd.choice(ps), value) if ps else value


def m_wrap(rnd: random.Random, tree: Any) -> Any:
    """A value put inside a list or mapping (``window: [30m]``)."""
    ps = paths(tree)
    if not ps:
        return tree
    p = rnd.choice(ps)
    v = _get(tree, p)
    return _set(tree, p, [v] if rnd.random() < 0.5 else {"value": v})


STRUCTURAL: list[Callable[[random.Random, Any], Any]] = [
    m_delete,
    m_replace,
    m_replace,
    m_replace,
    m_duplicate_key,
    m_odd_key,
    m_alias,
    m_merge_odd,
    m_deep,
    m_wrap,
]

# -- textual mutations ----------------------------------------------------------------------

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def t_truncate(rnd: random.Random, text: str) -> str:
    return text[: rnd.randrange(len(text) + 1)]


def t_tabs(rnd: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = rnd.randrange(len(lines)) if lines else 0
    if lines:
        lines[i] = re.sub(r"^ +", "\t", lines[i])
    return "".join(lines)


def t_bom(rnd: random.Random, text: str) -> str:
    return "\ufeff" + text


def t_crlf(rnd: random.Random, text: str) -> str:
    return text.replace("\n", "\r\n")


def t_control(rnd: random.Random, text: str) -> str:
    i = rnd.randrange(len(text) + 1)
    odd = rnd.choice(["\x00", "\x07", "\x1b", "\ud800", "\x85", "\u2028", "\r"])
    return text[:i] + odd + text[i:]


def t_fixed(rnd: random.Random, text: str) -> str:
    return rnd.choice(
        [
            "",
            "   \n\n",
            "# only a comment\n# and another\n",
            "- a\n- b\n",
            "just a string\n",
            "42\n",
            "---\na: 1\n---\nb: 2\n",
            "null\n",
            "[]\n",
            "{}\n",
            BOMB,
            BOMB + "model: *i\nrules: *i\nlabels: *i\nroute: *i\nreceivers: *i\ncolumns: *i\n",
            "x: &x [*x]\n",
            "!!python/object/apply:os.system ['echo pwned']\n",
            "a: !!python/object/new:tuple [[1, 2]]\n",
            "[" * 5000 + "]" * 5000 + "\n",
            "a:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(1500)),
            "- " * 3000 + "x\n",
            "a: 'unterminated\n",
            "a: b: c\n",
            "key: [1, 2\n",
            "%YAML 9.9\n---\na: 1\n",
            "a: 1\n...\ngarbage: [\n",
        ]
    )


def t_splice(rnd: random.Random, text: str) -> str:
    """A random line repeated or dropped."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = rnd.randrange(len(lines))
    if rnd.random() < 0.5:
        lines.insert(i, lines[i])
    else:
        del lines[i]
    return "".join(lines)


def t_bomb_value(rnd: random.Random, text: str) -> str:
    """An alias bomb whose top aliases replace a real field's value."""
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*-?\s*[a-z_]+:\s*\S", line)]
    if not keyed:
        return BOMB + text
    i = rnd.choice(keyed)
    lines[i] = re.sub(r":\s*\S.*$", ": *i", lines[i])
    return BOMB.replace("a: &a", "x-a: &a") + "\n".join(lines) + "\n"


TEXTUAL: list[Callable[[random.Random, str], str]] = [
    t_truncate,
    t_truncate,
    t_tabs,
    t_bom,
    t_crlf,
    t_control,
    t_fixed,
    t_splice,
    t_bomb_value,
]


def mutate(rnd: random.Random, seed_text: str) -> str:
    """One mutated text: 1-3 structural mutations, or one textual, or both."""
    roll = rnd.random()
    text = seed_text
    if roll < 0.75:
        tree = yaml.safe_load(seed_text)
        for _ in range(rnd.choice([1, 1, 2, 3])):
            tree = rnd.choice(STRUCTURAL)(rnd, tree)
        text = to_text(tree)
    if roll > 0.6:
        text = rnd.choice(TEXTUAL)(rnd, text)
    return text


def cases(seeds: Iterable[str], n: int, seed: int) -> list[str]:
    """``n`` mutated texts from ``seeds``, the same ones for the same ``seed``."""
    rnd = random.Random(seed)
    pool = list(seeds)
    return [mutate(rnd, rnd.choice(pool)) for _ in range(n)]


def readme_yaml() -> list[str]:
    """The README's YAML blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
"""What YAML counts as a line break (its marks count lines by these)."""
LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): ")


def check_issues(issues: Iterable[ConfigIssue], file: str, text: str) -> list[str]:
    """What is wrong with reported issues: each must start with ``file:line:col: ``, point
    inside the file and say something."""
    bad = []
    n_lines = len(BREAKS.split(text)) + 1  # the end of the file may be one line below
    for issue in issues:
        shown = str(issue)
        m = LINE.match(shown)
        if not m or m["file"] != file:
            bad.append(f"no {file}:line: {shown[:300]}")
        elif not 1 <= int(m["line"]) <= n_lines:
            bad.append(f"line outside the file: {shown[:300]}")
        if not issue.message.strip():
            bad.append(f"empty message: {shown[:300]}")
    return bad


class Hung(Exception):
    """A case ran past its time limit."""


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail with :class:`Hung` if the block runs longer than ``seconds`` (SIGALRM, so the
    main thread only): an alias bomb used to hang the loaders for good, and a test of it
    must fail on the old code, not wait for ever."""

    def _hung(*_: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
