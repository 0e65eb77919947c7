"""User-defined contract checks: register a Python callable by name, reference it in YAML.

    registry = CheckRegistry()

    @registry.check("positive_share")
    def positive_share(column: pd.Series, *, minimum: float = 0.0) -> float:
        return float((column <= minimum).mean())   # a "badness" value: higher is worse

    # contract.yaml
    custom:
      - {check: positive_share, column: amount, warning: 0.01, critical: 0.1,
         params: {minimum: 0}}

A check returns a float graded against its ``warning``/``critical`` bounds (higher is
worse), or a bool, Python or numpy (False = critical); anything else is reported as that
check's own error. Registries are plain objects passed to ``validate_frame`` — there is no
global default, so tests and processes never share state.
"""

from __future__ import annotations

import importlib
import importlib.util
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.contracts.report import CheckResult, Status, grade
from modelhealth.errors import ConfigError, ConfigIssue, SourcePos

CheckFn = Callable[..., float | bool]
"""``fn(column_or_frame, **params) -> float | bool``; gets the whole frame if no column."""


class CheckRegistry(Mapping[str, CheckFn]):
    """Named custom checks; a read-only Mapping once filled."""

    def __init__(self, checks: Mapping[str, CheckFn] | None = None) -> None:
        self._checks: dict[str, CheckFn] = {}
        for name, fn in (checks or {}).items():
            self.register(name, fn)

    def register(self, name: str, fn: CheckFn) -> CheckFn:
        if not callable(fn):
            raise TypeError(f"custom check {name!r} must be callable, got {type(fn).__name__}")
        if name in self._checks and self._checks[name] is not fn:
            raise ValueError(f"custom check {name!r} is already registered")
        self._checks[name] = fn
        return fn

    def check(self, name: str) -> Callable[[CheckFn], CheckFn]:
        """Decorator form of :meth:`register`."""
        return lambda fn: self.register(name, fn)

    def __getitem__(self, name: str) -> CheckFn:
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)


def load_registry(module: str) -> CheckRegistry:
    """Import ``module`` and take its ``CHECKS`` mapping or ``register(registry)`` hook.

    ``module`` is a module name, found on ``sys.path`` or in the current folder (as ``python
    -m`` would: the console script does not put the folder on the path, so ``--checks
    mychecks`` beside the contract failed), or the path of a ``.py`` file."""
    mod = _import(module)
    registry = CheckRegistry()
    hook = getattr(mod, "register", None)
    checks = getattr(mod, "CHECKS", None)
    if callable(hook):
        hook(registry)
    elif isinstance(checks, Mapping):
        for name, fn in checks.items():
            registry.register(str(name), fn)
    else:
        raise ValueError(f"module {module!r} defines neither CHECKS = {{...}} nor register()")
    return registry


def _import(module: str) -> Any:
    """Import the checks module; any error it raises while loading is a ``ValueError``
    naming the module and the file:line it came from (a typo in ``mychecks.py`` printed a
    Python traceback of the CLI instead)."""
    try:
        return _import_module(module)
    except ValueError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0] and exc.name != module:
            raise ValueError(f"custom checks {module}: {_where(exc)}{exc}") from exc
        raise ValueError(
            f"custom checks module {module!r} not found: give a module in the current folder "
            "or on the Python path, or the path of a .py file (e.g. ./mychecks.py)"
        ) from exc
    except Exception as exc:  # whatever the user's module raises while loading
        raise ValueError(
            f"custom checks {module}: loading it failed: {_where(exc)}{type(exc).__name__}: {exc}"
        ) from exc


def _where(exc: BaseException) -> str:
    """``file:line: `` of where loading a checks module failed (a SyntaxError's own
    position, else the innermost frame), or ``""``."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: "
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and f.filename != __file__]
    return f"{user[-1].filename}:{user[-1].lineno}: " if user else ""


def _import_module(module: str) -> Any:
    path = Path(module)
    if module.endswith(".py") or len(path.parts) > 1:
        if not path.is_file():
            raise ValueError(f"custom checks file {module} not found")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load custom checks from {module}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    finally:
        if added:
            sys.path.remove(cwd)


def run_custom(
    custom: tuple[Any, ...],
    frame: pd.DataFrame,
    registry: Mapping[str, CheckFn] | None,
    source: str = "",
) -> list[CheckResult]:
    """Run every ``custom:`` entry of a contract; unknown names fail all at once, loudly."""
    reg = registry or {}
    missing = [c for c in custom if c.check not in reg]
    if missing:
        raise ConfigError(
            [
                ConfigIssue(
                    getattr(c, "pos", None) or SourcePos(source or "<contract>"),
                    f"custom check {c.check!r} is not registered (known: "
                    f"{sorted(reg) or 'none'}; pass --checks MODULE defining it)",
                    field="custom",
                )
                for c in missing
            ]
        )
    out = []
    for c in custom:
        if c.column is not None and c.column not in frame.columns:
            out.append(
                CheckResult(
                    c.check, c.column, Status.CRITICAL, float("nan"), None, "column missing"
                )
            )
            continue
        target = frame[c.column] if c.column is not None else frame
        try:
            raw = reg[c.check](target, **dict(c.params))
        except Exception as exc:  # a user check must not take the whole report down
            out.append(
                CheckResult(
                    c.check,
                    c.column or "",
                    Status.CRITICAL,
                    float("nan"),
                    None,
                    f"check raised {type(exc).__name__}: {exc}",
                )
            )
            continue
        out.append(_graded(c, raw))
    return out


def _graded(c: Any, raw: object) -> CheckResult:
    """Grade one check's return value; anything but a number or a bool is that check's error.

    numpy bools count as bools (``(col > 0).all()`` returns ``np.bool_``, and grading it as
    the number 0.0 would turn a failed check green). Strings are refused even when they
    look numeric: a check that returns text is broken, and the report must say which one."""
    column = c.column or ""
    if isinstance(raw, bool | np.bool_):
        status = Status.HEALTHY if raw else Status.CRITICAL
        return CheckResult(c.check, column, status, float(raw))
    if not isinstance(raw, numbers.Real):
        where = f" on column {column!r}" if column else " on the whole frame"
        return CheckResult(
            c.check,
            column,
            Status.CRITICAL,
            float("nan"),
            None,
            f"check {c.check!r}{where} returned {type(raw).__name__} {raw!r:.60}; "
            "expected a float (higher is worse) or a bool (False = critical)",
        )
    value = float(raw)
    if np.isnan(value):  # "no answer" is the check failing, not a pass (grade() calls NaN healthy)
        where = f" on column {column!r}" if column else " on the whole frame"
        return CheckResult(
            c.check,
            column,
            Status.CRITICAL,
            value,
            None,
            f"check {c.check!r}{where} returned NaN; expected a number (higher is worse) "
            "or a bool (False = critical)",
        )
    warn = c.warning if c.warning is not None else float("inf")
    crit = c.critical if c.critical is not None else float("inf")
    threshold = c.critical if c.critical is not None else c.warning
    return CheckResult(c.check, column, grade(value, min(warn, crit), crit), value, threshold)
