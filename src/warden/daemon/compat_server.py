"""fail2ban's socket: its client, and the exporters and panels that speak its protocol.

A second front door to the one request handler, on a socket of its own (``compat_socket`` in
``[Definition]``; off unless set), created 0600 like the control socket and in a directory
checked the same way. Each connection reads messages up to fail2ban's end marker, refuses
anything but a pickle of plain values (:mod:`warden.daemon.f2bproto`) with an error answer
(the connection stays usable), and answers the rest through :func:`warden.daemon.compat.answer`.

Bounds as on the control socket: a message longer than
:data:`~warden.daemon.f2bproto.MAX_MESSAGE` is answered with an error and the connection
closed; a connection silent for ``idle_timeout`` is closed; at most ``max_connections`` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from warden.daemon.compat import Handler, answer
from warden.daemon.control import (
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    SocketServer,
    socket_path_refusal,
)
from warden.daemon.f2bproto import CLOSE, END, MAX_MESSAGE, dump_error, load_command
from warden.daemon.statefiles import UnsafeStatePath
from warden.errors import ProtocolError

__all__ = ["CompatServer", "compat_socket_refusal"]

log = logging.getLogger("warden.control")

_READ = 64 * 1024


def compat_socket_refusal(path: Path) -> str | None:
    """Why the daemon may not serve on ``path`` (None: it may), checked before anything
    starts: its directory must be safe (created 0700 if missing), and what is there already
    must be a socket nobody listens on; a file that is not a socket is never removed."""
    return socket_path_refusal(path, "a daemon already listens there (fail2ban-server?); "
                                     "stop it or set another compat_socket")


class CompatServer(SocketServer):
    """Serves fail2ban's protocol on the Unix socket ``path``; :meth:`close` ends it all."""

    label = "fail2ban socket"

    def __init__(self, path: Path, handler: Handler, clock: Callable[[], float], *,
                 idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(path, idle_timeout=idle_timeout, max_connections=max_connections)
        self.handler = handler
        self.clock = clock

    async def start(self) -> None:
        """Bind the socket and start accepting (raises OSError, SocketInUse or, for what
        :func:`compat_socket_refusal` refuses, UnsafeStatePath)."""
        why = compat_socket_refusal(self.path)
        if why is not None:
            raise UnsafeStatePath(f"{self.path}: {why}")
        await super().start()

    def _too_many(self) -> bytes:
        return dump_error(f"too many connections (at most {self.max_connections}); "
                          "try again later")

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        async with asyncio.timeout(self.idle_timeout):
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        while True:
            async with asyncio.timeout(self.idle_timeout):
                chunk = await reader.read(_READ)
            if not chunk:
                return
            pending += chunk
            while (end := pending.find(END)) >= 0:
                message, pending = pending[:end], pending[end + len(END):]
                if message == CLOSE:
                    return
                await self._send(writer, await self._answer(message))
            if len(pending) > MAX_MESSAGE:
                await self._send(writer, dump_error(
                    f"message longer than {MAX_MESSAGE} bytes; closing the connection"))
                return

    async def _answer(self, message: bytes) -> bytes:
        try:
            command = load_command(message)
        except ProtocolError as exc:
            log.warning("fail2ban socket: %s", exc)
            return dump_error(str(exc))
        try:
            return await answer(self.handler, command, self.clock())
        except Exception as exc:  # a bug must not take the daemon down
            log.exception("fail2ban socket: command %r failed", command)
            return dump_error(f"internal error: {exc}")
