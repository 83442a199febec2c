"""A loopback HTTP server that records every POST, for the webhook tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "http_server"]

Received = list[dict[str, Any]]


@contextmanager
def http_server(status: int = 200, delay: float = 0.0) -> Iterator[tuple[str, Received]]:
    """A server on 127.0.0.1 answering ``status`` after ``delay`` seconds: its URL and the
    requests it got (``type``, ``body`` as JSON, ``headers``)."""
    received: Received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append({"type": self.headers["Content-Type"],
                             "body": json.loads(self.rfile.read(length)),
                             "headers": dict(self.headers.items())})
            time.sleep(delay)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
