"""A local SMTP server (aiosmtpd) that stores every received message as a ``.eml`` file.

For the demo ("open the folder and look at the email") and for tests that must talk to a real
SMTP server. Port 0 picks a free port; the same port can be reused after ``stop()`` to
simulate an SMTP outage and recovery.
"""

from __future__ import annotations

import email
import itertools
import socket
import threading
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class _SaveHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seq = itertools.count(len(list(folder.glob("*.eml"))) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode()
        with self._lock:
            n = next(self._seq)
        tmp = self.folder / f".{n:06d}.eml.tmp"
        tmp.write_bytes(data)
        tmp.rename(self.folder / f"{n:06d}.eml")  # readers never see half a message
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalMailbox:
    """SMTP on ``host:port`` saving messages into ``folder``.

    >>> box = LocalMailbox("/tmp/mh-mail").start()
    >>> box.port > 0
    True
    >>> box.stop()
    """

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self._controller: Controller | None = None

    def start(self) -> LocalMailbox:
        if self._controller is None:
            self._controller = Controller(
                _SaveHandler(self.folder), hostname=self.host, port=self.port
            )
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every stored message, parsed with the modern email policy, oldest first."""
        out = []
        for p in self.paths():
            msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def __enter__(self) -> LocalMailbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
