"""A real local HTTP receiver for the tests: a webhook endpoint or an SMS/WeChat gateway, whose
answers a test scripts and whose requests it reads back (notify's tests, the end-to-end runs)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A real HTTP/1.1 server (threaded, keep-alive, ``host``, a free port unless given) standing
    in for a webhook receiver or an SMS/WeChat gateway. ``script`` lists the answers to the next
    requests: a status code, or ``"hang"`` (answer after ``hang_s``); once used up it answers
    200. A 3xx answer carries ``Location: redirect_to``. Every request is recorded, GETs too,
    with the client's address (one TCP connection, one client port)."""

    def __init__(self, hang_s: float = 2.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int | str] = []
        self.hang_s = hang_s
        self.redirect_to: str | None = None
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the sender's pool can reuse connections

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    answer = owner.script.pop(0) if owner.script else 200
                    owner.received.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "json": json.loads(body) if body else None,
                            "answer": answer,
                            "client": self.client_address,
                        }
                    )
                if answer == "hang":
                    time.sleep(owner.hang_s)
                    answer = 200
                try:
                    self.send_response(int(answer))
                    if 300 <= int(answer) < 400 and owner.redirect_to:
                        self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up (timeout) and closed the connection

            do_GET = do_POST
            do_PUT = do_POST

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
