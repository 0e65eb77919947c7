"""The learned anomaly detector (the ``learn`` extra: ``pip install 'modelhealth[learn]'``).

This ``__init__`` imports nothing heavy on purpose: the demo, ``anomaly train`` and the rules'
``learned`` detector ask :func:`learn_extra_problem` *before* importing any submodule, because
those submodules import the extra's packages at import time (``rolling`` imports bottleneck),
so a check placed inside them crashes with the very ModuleNotFoundError it should explain.
"""

from __future__ import annotations

import importlib.util

LEARN_PACKAGES = ("lightgbm", "bottleneck")
"""Import names of the ``learn`` extra's packages that training or scoring imports
(scikit-learn, also in the extra, is only the forecaster's optional comparison backend)."""

INSTALL_HINT = "pip install 'modelhealth[learn]'"


def missing_learn_packages() -> list[str]:
    """The :data:`LEARN_PACKAGES` that cannot be imported (find_spec: nothing is imported)."""
    return [name for name in LEARN_PACKAGES if importlib.util.find_spec(name) is None]


def learn_extra_problem() -> str | None:
    """One line saying which packages are missing and how to install them, or None when the
    learned detector can be imported."""
    missing = missing_learn_packages()
    if not missing:
        return None
    return (
        f"the learned detector needs {', '.join(missing)} (the 'learn' extra), which this "
        f"installation lacks: {INSTALL_HINT}"
    )
