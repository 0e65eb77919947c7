"""Cutting text to a receiver's limits without breaking it: a subject or summary too long
for its field is shortened on a character boundary and says so with an ellipsis, instead of
being refused (a 400 from PagerDuty drops the page) or cut mid-character by the receiver."""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
_JOINERS = frozenset("\u200d\u034f")  # zero-width joiner, combining grapheme joiner


def ellipsize(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its head and ``…`` in ``limit``.

    The cut never separates a letter from its combining accents or an emoji from its
    modifiers (``e`` + U+0301 would lose its accent, a ZWJ family would lose members), so
    the head stays readable text; Python strings are code points, so no UTF-8 sequence or
    surrogate pair is ever split.

    >>> ellipsize("abcdef", 4)
    'abc…'
    >>> ellipsize("abc", 4)
    'abc'
    """
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    cut = limit - 1
    while cut > 0 and (_attached(text[cut]) or text[cut - 1] in _JOINERS):
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def _attached(char: str) -> bool:
    """Whether ``char`` belongs to the character before it (a mark, modifier or joiner)."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in _JOINERS
        or 0xFE00 <= ord(char) <= 0xFE0F  # variation selectors
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # emoji skin-tone modifiers
    )
