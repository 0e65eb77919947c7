"""Text from outside the dashboard's own code (exceptions, file contents, links, user input)
made safe to show in Streamlit's markdown-rendering elements.

``st.warning``, ``st.error``, ``st.info``, ``st.success``, ``st.caption`` and ``st.write``
all render markdown: an exception saying "letters, digits, '_', '.', '-'" lost its
underscores (``_`` starts emphasis), ``*`` and ``[`` garble a matcher or a path, and
Streamlit's ``:color[...]``/``:emoji:`` directives and ``$`` maths apply too. :func:`plain`
backslash-escapes every such character, so the text reads exactly as it was written.
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=])")


def plain(text: object) -> str:
    """``text`` (any object, as ``str()``) with markdown's special characters escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless n is 1: "1 rule", "4 rules" (a caption reading
    "1 rules" looks unfinished)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
