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
import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from warden.daemon.compat import Handler, answer
from warden.daemon.control import (
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    bind_socket,
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


class CompatServer:
    """Serves fail2ban's protocol on the Unix socket ``path``; :meth:`close` ends it all."""

    def __init__(self, path: Path, handler: Handler, clock: Callable[[], float], *,
                 idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.path = path
        self.handler = handler
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket and start accepting (raises OSError, SocketInUse or, for what
        :func:`compat_socket_refusal` refuses, UnsafeStatePath)."""
        why = compat_socket_refusal(self.path)
        if why is not None:
            raise UnsafeStatePath(f"{self.path}: {why}")
        self._sock = bind_socket(self.path)
        self._acceptor = asyncio.get_running_loop().create_task(
            self._accept(self._sock), name="compat accept")

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                # out of descriptors or similar: the control socket logs the episode
                log.debug("fail2ban socket: accept failed: %s", exc)
                await asyncio.sleep(0.2)
                continue
            if len(self._clients) >= self.max_connections:
                with contextlib.suppress(OSError):
                    conn.send(dump_error(f"too many connections (at most "
                                         f"{self.max_connections}); try again later"))
                conn.close()
                continue
            task = loop.create_task(self._connection(conn), name="compat connection")
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    async def _connection(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn)
        except OSError:
            conn.close()
            return
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stopped talking
        except Exception:  # a bug ends this connection, not the daemon
            log.exception("fail2ban socket: connection failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

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

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file."""
        tasks = [t for t in (self._acceptor, *self._clients) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._acceptor = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                self.path.unlink()
