"""Alert delivery beside the scheduler's ticks, not inside them (``rules run``).

The scheduler used to deliver inside each tick, then once more after it: a receiver that
accepts connections and never answers cost every pending notification its timeout twice per
tick, so a tick took a minute and nothing was evaluated meanwhile; and ``group_wait`` and
retry backoffs came due only at the next tick (a 10 s ``group_wait`` paged after a minute).
Alertmanager's notification pipeline runs apart from rule evaluation; so does this one: a
tick hands its alerts over (``Dispatcher.ingest``, persisted before it returns) and wakes the
delivery thread, which flushes groups and delivers due notifications at least every
``POLL_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from modelhealth.clock import Clock
from modelhealth.types import Alert

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""Longest wait between two flushes: how late a ``group_wait`` or a retry may come due."""


class BackgroundDelivery:
    """Flushes ``dispatcher`` from a thread of its own until :meth:`stop`."""

    def __init__(self, dispatcher: Any, clock: Clock, poll_seconds: float = POLL_SECONDS) -> None:
        self.dispatcher = dispatcher
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alert-delivery", daemon=True)
        self._thread.start()

    def hand_over(self, alerts: Sequence[Alert], now: datetime) -> None:
        """A tick's alerts: routed into their groups now (durably), delivered by the thread."""
        self.dispatcher.ingest(alerts, now)
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.dispatcher.flush(self.clock.now())
            except Exception:  # a bug or a locked file must not end delivery for good
                log.exception("alert delivery failed; retrying in %.0fs", self.poll_seconds)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the attempts under way (a hung receiver costs at most its timeout).

        The flush under way is asked to end too (``Outbox.stopping``): it used to go on
        through every due notification, so with a slow receiver and a long queue it outlived
        ``timeout``, and the process exited with notifications sent but not yet marked sent
        (sent again at the next start). Rows it has not attempted stay queued, due at once."""
        outbox = getattr(self.dispatcher, "outbox", None)
        stopping = getattr(outbox, "stopping", None)
        if stopping is not None:
            stopping.set()
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("alert delivery still busy after %.0fs; its outbox rows stay queued "
                        "for the next start", timeout)  # fmt: skip
        elif stopping is not None:
            stopping.clear()  # a bounded run flushes once more after stopping the thread
