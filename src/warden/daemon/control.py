"""The control server: JSON lines over a Unix socket created 0600 (root only).

One request per line, one response line each; several requests may share a connection. A
malformed line is answered with :class:`~warden.protocol.FailedReply` (reason ``usage``); the
connection stays usable. The handler is any async callable from request to response.

Limits keep a misbehaving client from costing the daemon more than a bounded amount: a
request longer than :data:`~warden.protocol.codec.MAX_REQUEST` is answered and the connection
closed; a connection that sends no request, or reads no answer, for ``idle_timeout`` seconds is
closed; at most ``max_connections`` are served at once (one more is told so and closed). When
the process runs out of descriptors, accepting pauses and retries, with one log line when that
starts and one when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from warden.daemon.statefiles import UnsafeStatePath, check_dir
from warden.errors import ProtocolError
from warden.protocol import (
    EventsRequest,
    FailedReply,
    Request,
    Response,
    decode_request,
    encode,
)
from warden.protocol.codec import MAX_REQUEST

__all__ = ["IDLE_TIMEOUT", "MAX_CONNECTIONS", "NOT_A_SOCKET", "ControlServer", "Handler",
           "SocketInUse", "SocketServer", "bind_socket", "socket_in_use", "socket_path_refusal"]

log = logging.getLogger("warden.control")

Handler = Callable[[Request], Awaitable[Response]]
#: serves an event stream on the connection it is given (``warden events``)
Streamer = Callable[[EventsRequest, asyncio.StreamReader, asyncio.StreamWriter],
                    Awaitable[None]]

#: seconds a connection may wait without sending a request or reading an answer
IDLE_TIMEOUT = 60.0
#: connections served at once (the CLI uses one per command)
MAX_CONNECTIONS = 64
# seconds between attempts to accept while descriptors are exhausted
_ACCEPT_RETRY = 0.2
# seconds without exhaustion that end an episode: freeing a few descriptors often lets one
# connection in before the next shortage, and that is still the same episode
_CALM = 2.0
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class SocketInUse(OSError):
    """Another daemon answers on the control socket."""


def socket_in_use(path: Path) -> bool:
    """Whether a daemon answers on ``path`` (checked before anything is started)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


#: why a name that is not a socket is never removed to make room for one
NOT_A_SOCKET = "something other than a socket is there; refusing to replace it"


def _not_a_socket(path: Path) -> bool:
    return path.is_symlink() or (path.exists() and not stat.S_ISSOCK(path.lstat().st_mode))


def socket_path_refusal(path: Path, in_use: str) -> str | None:
    """Why a socket may not be served at ``path`` (None: it may), said before anything starts:
    its directory must be safe (created 0700 if missing), what is there already must be a
    socket, and nobody may listen on it (``in_use`` says so)."""
    try:
        check_dir(path.parent)
    except UnsafeStatePath as exc:
        return str(exc)
    if _not_a_socket(path):
        return NOT_A_SOCKET
    if socket_in_use(path):
        return in_use
    return None


def bind_socket(path: Path) -> socket.socket:
    """A listening, non-blocking Unix socket at ``path``, created 0600 in a directory nobody
    else can change (raises OSError, :class:`SocketInUse` if a daemon answers there)."""
    # the directory must be one nobody else can swap entries in (created 0700 if missing)
    check_dir(path.parent)
    if _not_a_socket(path):  # a file or link that is not ours: never removed
        raise OSError(errno.EEXIST, NOT_A_SOCKET, os.fspath(path))
    if path.exists():
        if socket_in_use(path):
            raise SocketInUse(f"{path}: another warden daemon is listening there")
        path.unlink()  # stale: nobody listens there any more (unlink never follows)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The socket is born 0600: no window in which another user could connect. bind() never
    # follows a symlink and fails if the name exists.
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


class SocketServer:
    """What every Unix socket server of the daemon shares: the socket at ``path`` (see
    :func:`bind_socket`), the accept loop with its bounds (``max_connections``; descriptor
    exhaustion logged once per episode), one task per connection, and :meth:`close`, which
    cancels and awaits them all. A subclass says how it refuses one connection too many
    (:meth:`_too_many`) and serves one connection (:meth:`_serve`)."""

    #: the name in log lines and task names
    label = "socket"
    #: the stream reader's buffer limit per connection
    reader_limit = 2 ** 16

    def __init__(self, path: Path, *, idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.path = path
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket and start accepting (raises OSError / SocketInUse)."""
        self._sock = bind_socket(self.path)
        self._acceptor = asyncio.get_running_loop().create_task(
            self._accept(self._sock), name=f"{self.label} accept")

    def _too_many(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        # the episode of descriptor exhaustion we are in: (first, latest) failure times
        episode: tuple[float, float] | None = None
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno not in _EXHAUSTED:
                    log.warning("%s: accept failed: %s", self.label, exc.strerror or exc)
                elif episode is None:
                    # one line per episode: the retries below would otherwise log each time
                    episode = (loop.time(), loop.time())
                    log.error("%s: out of descriptors (%s); new connections wait until some "
                              "are freed", self.label, exc.strerror or exc)
                else:
                    episode = (episode[0], loop.time())
                await asyncio.sleep(_ACCEPT_RETRY)
                continue
            if episode is not None and loop.time() - episode[1] >= _CALM:
                log.warning("%s: descriptors available again after %.1f s; accepting "
                            "connections", self.label, episode[1] - episode[0])
                episode = None
            if len(self._clients) >= self.max_connections:
                with contextlib.suppress(OSError):
                    conn.send(self._too_many())
                conn.close()
                continue
            task = loop.create_task(self._connection(conn), name=f"{self.label} connection")
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    async def _connection(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn,
                                                                limit=self.reader_limit)
        except OSError:
            conn.close()
            return
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or stopped talking: nothing to answer
        except Exception:  # a bug ends this connection, not the daemon, and is reported once
            log.exception("%s: connection failed", self.label)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

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


class ControlServer(SocketServer):
    """Serves ``handler`` (JSON lines, see the module docstring) on the Unix socket ``path``."""

    label = "control socket"
    reader_limit = MAX_REQUEST

    def __init__(self, path: Path, handler: Handler, *, idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, streamer: Streamer | None = None
                 ) -> None:
        super().__init__(path, idle_timeout=idle_timeout, max_connections=max_connections)
        self.handler = handler
        #: an events request hands the connection over to it (no idle limit from then on)
        self.streamer = streamer

    def _too_many(self) -> bytes:
        return encode(FailedReply(f"too many connections (at most {self.max_connections}); "
                                  "try again later"))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                # more than MAX_REQUEST bytes without a newline: answer, then hang up
                writer.write(encode(FailedReply("request too long", "usage")))
                async with asyncio.timeout(self.idle_timeout):
                    await writer.drain()
                return
            if not line:
                return
            response: Response
            try:
                request = decode_request(line)
            except ProtocolError as exc:
                response = FailedReply(str(exc), "usage")
            else:
                if isinstance(request, EventsRequest) and self.streamer is not None:
                    await self.streamer(request, reader, writer)
                    return
                try:
                    response = await self.handler(request)
                except Exception as exc:  # a bug must not take the daemon down
                    log.exception("control request %r failed", request)
                    response = FailedReply(f"internal error: {exc}")
            writer.write(encode(response))
            # A client that does not read its answers is dropped after the idle timeout;
            # until then at most one answer waits here (nothing more is read meanwhile).
            async with asyncio.timeout(self.idle_timeout):
                await writer.drain()
