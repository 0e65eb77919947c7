"""Text from outside the dashboard's own code (exceptions, file contents, links, user input)
made safe to show in Streamlit's markdown-rendering elements.

``st.warning``, ``st.error``, ``st.info``, ``st.success``, ``st.caption`` and ``st.write``
all render markdown: an exception saying "letters, digits, '_', '.', '-'" lost its
underscores (``_`` starts emphasis), ``*`` and ``[`` garble a matcher or a path, and
Streamlit's ``:color[...]``/``:emoji:`` directives and ``$`` maths apply too. :func:`plain`
backslash-escapes every such character, so the text reads exactly as it was written.

It also holds what the pages show for things the data spells for machines: a missing value
(:data:`MISSING`) and the rare-category bin ``__other__`` (:func:`bin_label`).
"""

from __future__ import annotations

import re

from modelhealth.ingestion.schema import OTHER_CATEGORY

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=])")


def plain(text: object) -> str:
    """``text`` (any object, as ``str()``) with markdown's special characters escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless n is 1: "1 rule", "4 rules" (a caption reading
    "1 rules" looks unfinished)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


MISSING = "—"
"""What a table cell without a value shows (``st.dataframe(placeholder=MISSING)``): a
categorical feature's min/max/mean, a model without data's p99. Streamlit's default is the
word "None", which read as a category or a value called None."""

OTHER_LABEL = "(other categories)"
"""How the pages name the bin of a categorical feature's rare and unknown values. The store
and the reference keep their label ``__other__`` (:data:`OTHER_CATEGORY`); only what is
shown changes."""


def bin_label(label: object) -> str:
    """A histogram bin's label as shown: the raw ``__other__`` as :data:`OTHER_LABEL`."""
    return OTHER_LABEL if label == OTHER_CATEGORY else str(label)
