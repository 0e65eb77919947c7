"""A local stand-in for the PagerDuty Events v2 endpoint, so the demo shows pages too.

It accepts POSTed events on 127.0.0.1 and appends them to a JSON-lines file.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PagerInbox:
    """``PagerInbox(path).start()``; ``url`` is what the pager receiver should post to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                try:
                    event = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with inbox._lock, inbox.path.open("a") as fh:
                    fh.write(json.dumps(event) + "\n")
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"success","message":"Event processed"}')

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the demo prints its own progress."""

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def start(self) -> PagerInbox:
        self._thread.start()
        return self

    def events(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
