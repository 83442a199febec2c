"""A minimal HTTP/1.1 responder for ``GET /metrics``, on the daemon's own event loop.

One request per connection (the answer says ``Connection: close``), which is what a
Prometheus scrape needs. Bounds keep a client from costing more than a little: the request
head is at most 8 KiB and must arrive within ``timeout`` seconds, at most
``max_connections`` are served at once. Anything but ``GET``/``HEAD`` of ``/metrics`` (a
query string is ignored) is answered 404 or 405. A Unix socket endpoint is created 0600 in a
directory nobody else can change, like the control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from warden.config.metrics import MetricsEndpoint
from warden.daemon.control import bind_socket
from warden.daemon.metrics import CONTENT_TYPE
from warden.daemon.statefiles import UnsafeStatePath

__all__ = ["MetricsServer", "move_metrics", "serve_metrics"]

log = logging.getLogger("warden.metrics")

_MAX_HEAD = 8 * 1024


class MetricsServer:
    """Serves ``render()`` at ``/metrics`` on ``endpoint``."""

    def __init__(self, endpoint: MetricsEndpoint, render: Callable[[], str], *,
                 timeout: float = 10.0, max_connections: int = 16) -> None:
        self.endpoint = endpoint
        self.render = render
        self.timeout = timeout
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen; OSError whose ``strerror`` says plainly why not (address in use, no
        permission, a socket directory others could change, a file that is not a socket)."""
        try:
            if self.endpoint.path:
                sock = bind_socket(Path(self.endpoint.path))
                self._server = await asyncio.start_unix_server(self._client, sock=sock,
                                                               limit=_MAX_HEAD)
            else:
                self._server = await asyncio.start_server(
                    self._client, self.endpoint.host, self.endpoint.port, limit=_MAX_HEAD,
                    reuse_address=True)
        except UnsafeStatePath as exc:
            raise OSError(errno.EPERM, str(exc)) from None
        except OSError as exc:
            if self.endpoint.path and exc.strerror:
                raise OSError(exc.errno, exc.strerror) from None
            # asyncio's text repeats the address; the errno's text says it plainly
            raise OSError(exc.errno, os.strerror(exc.errno) if exc.errno else str(exc)
                          ) from None
        if not self.endpoint.loopback:
            log.warning("metrics: served on %s, which is not loopback: whoever reaches it "
                        "sees the jails and their counts", self.endpoint)

    @property
    def listening(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port listened on (useful with port 0 in tests)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._clients) >= self.max_connections:
            writer.close()
            return
        self._clients.add(task)
        try:
            async with asyncio.timeout(self.timeout):
                await self._answer(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            pass  # a slow, vanished or oversized client: nothing more to say to it
        except Exception:  # a bug ends this connection, never the daemon
            log.exception("metrics: request failed")
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            await _send(writer, 400, "Bad Request", b"bad request\n")
            return
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path != "/metrics":
            await _send(writer, 404, "Not Found", b"warden serves /metrics only\n")
            return
        if method not in ("GET", "HEAD"):
            await _send(writer, 405, "Method Not Allowed", b"GET /metrics\n",
                        extra="Allow: GET, HEAD\r\n")
            return
        body = self.render().encode()
        await _send(writer, 200, "OK", body, content_type=CONTENT_TYPE,
                    head_only=method == "HEAD")

    async def close(self) -> None:
        """Stop listening and end the connections being served."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self._server.wait_closed()
        self._server = None
        if self.endpoint.path:
            with contextlib.suppress(OSError):
                Path(self.endpoint.path).unlink()


async def _send(writer: asyncio.StreamWriter, code: int, reason: str, body: bytes, *,
                content_type: str = "text/plain; charset=utf-8", extra: str = "",
                head_only: bool = False) -> None:
    head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n")
    writer.write(head.encode("latin-1") + (b"" if head_only else body))
    await writer.drain()


async def serve_metrics(endpoint: MetricsEndpoint | None, render: Callable[[], str]
                        ) -> MetricsServer | None:
    """A started server for ``endpoint`` (None: not configured, or it cannot listen; that is
    logged and the daemon goes on protecting without metrics)."""
    if endpoint is None:
        return None
    server = MetricsServer(endpoint, render)
    try:
        await server.start()
    except OSError as exc:  # the server's strerror says it plainly
        log.error("metrics: cannot listen on %s (%s); /metrics is not served", endpoint,
                  exc.strerror or exc)
        return None
    log.info("metrics served on %s at /metrics", endpoint)
    return server


async def move_metrics(server: MetricsServer | None, endpoint: MetricsEndpoint | None,
                       render: Callable[[], str]) -> MetricsServer | None:
    """After a reload: the server for the ``metrics`` now configured (``endpoint``).

    Unchanged: ``server`` itself. Otherwise the new endpoint is bound first and the old one
    closed only once it listens; if the new one cannot listen, the old one keeps serving
    and the log says why. (The same port on another address is first let go of, as Linux
    refuses both bound at once, and taken back if the new address fails.)"""
    current = None if server is None else server.endpoint
    if endpoint == current:
        return server
    if endpoint is None:
        assert server is not None
        await server.close()
        log.info("metrics: no longer served (metrics is off after the reload; was %s)",
                 current)
        return None
    fresh = MetricsServer(endpoint, render)
    try:
        try:
            await fresh.start()
        except OSError as exc:
            if server is None or current is None or exc.errno != errno.EADDRINUSE or \
                    current.path or current.port != endpoint.port:
                raise
            await server.close()
            try:
                await fresh.start()
            except OSError:
                with contextlib.suppress(OSError):
                    await server.start()  # taken back: the old endpoint stays
                raise
            server = None
    except OSError as exc:
        stays = f"/metrics stays on {current}" if server is not None and server.listening \
            else "/metrics is not served"
        log.error("metrics: cannot listen on %s after the reload (%s); %s", endpoint,
                  exc.strerror or exc, stays)
        return server if server is not None and server.listening else None
    if server is not None:
        await server.close()
    log.info("metrics moved to %s at /metrics (was %s)", endpoint, current or "off")
    return fresh
