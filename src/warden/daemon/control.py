"""The control server: JSON lines over a Unix socket created 0600 (root only).

One request per line, one response line each; several requests may share a connection. A
malformed line is answered with :class:`~warden.protocol.Failed` (reason ``usage``); the
connection stays usable. The handler is any async callable from request to response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from warden.errors import ProtocolError
from warden.protocol import MAX_LINE, Failed, Request, Response, decode_request, encode

__all__ = ["ControlServer", "Handler", "SocketInUse"]

log = logging.getLogger("warden.control")

Handler = Callable[[Request], Awaitable[Response]]


class SocketInUse(OSError):
    """Another daemon answers on the control socket."""


def _bind(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            path.unlink()  # stale: nobody listens there any more
        else:
            raise SocketInUse(f"{path}: another warden daemon is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The socket is born 0600: no window in which another user could connect.
    old = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    sock.listen(64)
    sock.setblocking(False)
    return sock


class ControlServer:
    """Serves ``handler`` on the Unix socket ``path``."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket and start accepting (raises OSError / SocketInUse)."""
        sock = _bind(self.path)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(encode(Failed("request too long", "usage")))
                    break
                if not line:
                    break
                response: Response
                try:
                    request = decode_request(line)
                except ProtocolError as exc:
                    response = Failed(str(exc), "usage")
                else:
                    try:
                        response = await self.handler(request)
                    except Exception as exc:  # a bug must not take the daemon down
                        log.exception("control request %r failed", request)
                        response = Failed(f"internal error: {exc}")
                writer.write(encode(response))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file."""
        if self._server is not None:
            self._server.close()
            for client in list(self._clients):
                client.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()
