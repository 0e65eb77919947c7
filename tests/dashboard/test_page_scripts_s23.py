"""Streamlit runs the app and each page as a script, and its "magic" writes every bare
expression of one onto the page: an attribute docstring under a constant in a view showed
as a stray sentence above the Canary page's title. Only docstrings (the first statement of
a module, function or class body) are skipped by magic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from modelhealth.dashboard.app import HERE, PAGES

SCRIPTS = [HERE / "app.py", *(HERE / path for path, _, _ in PAGES)]


def _bare_strings(tree: ast.AST) -> list[int]:
    """Lines of string expressions that are not the docstring of their body."""
    lines = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for i, stmt in enumerate(body):
            is_string = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            if is_string and isinstance(stmt.value.value, str) and i > 0:
                lines.append(stmt.lineno)
    return lines


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_page_script_has_no_bare_strings_magic_would_show(script: Path) -> None:
    assert _bare_strings(ast.parse(script.read_text())) == [], script


def test_the_check_finds_an_attribute_docstring() -> None:
    code = '"""Module."""\nLIMIT = 200\n"""What LIMIT is."""\n'
    assert _bare_strings(ast.parse(code)) == [3]
