"""A one-line progress bar for long steps (no dependency, safe when output is not a TTY)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress("backfill").update(i, n)`` redraws ``backfill [#####-----] 50% (i/n)``."""

    def __init__(self, label: str, unit: str = "", width: int = 30) -> None:
        self.label = label
        self.unit = unit
        self.width = width
        self.tty = sys.stdout.isatty()
        self._last_pct = -1
        self._start = time.monotonic()

    def update(self, done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct == self._last_pct or (not self.tty and pct % 10 and done != total):
            return
        self._last_pct = pct
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"{self.label} [{bar}] {pct:3d}% ({done}/{total}{self.unit}) "
            f"{time.monotonic() - self._start:.1f}s"
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", flush=True)

    def done(self, summary: str) -> None:
        if self.tty:
            print()
        print(f"{self.label}: {summary}", flush=True)
