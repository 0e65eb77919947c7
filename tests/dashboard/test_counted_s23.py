"""Counts in the dashboard's captions read as English: "1 rule", "4 rules"."""

from __future__ import annotations

import pytest

from modelhealth.dashboard.text import counted


@pytest.mark.parametrize(("n", "text"), [(0, "0 rules"), (1, "1 rule"), (2, "2 rules")])
def test_a_count_is_singular_only_for_one(n: int, text: str) -> None:
    assert counted(n, "rule") == text
