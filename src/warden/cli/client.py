"""The control client: one request, one response, over the daemon's Unix socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from warden.config.confset import read_layered
from warden.errors import ProtocolError, WardenError
from warden.protocol import MAX_LINE, Request, Response, decode_response, encode
from warden.protocol.paths import DEFAULT_SOCKET

__all__ = ["DEFAULT_SOCKET", "Unreachable", "call", "send", "socket_path"]



class Unreachable(WardenError):
    """No daemon answers on the socket (not running, or another path)."""


def socket_path(config_dir: Path, override: Path | None = None) -> Path:
    """The control socket: ``--socket``, else ``socket`` of warden.conf/fail2ban.conf."""
    if override is not None:
        return override
    for name in ("warden", "fail2ban"):
        confset = read_layered(os.fspath(config_dir), name)
        if confset is None:
            continue
        for section in ("Definition", "DEFAULT"):
            found = confset.get(section, "socket")
            if found is not None and found.text.strip():
                return Path(found.text.strip())
        break
    return DEFAULT_SOCKET


def send(path: Path, request: Request, timeout: float) -> socket.socket:
    """A connection to the daemon listening on ``path`` that has sent ``request``.

    Raises :class:`Unreachable` when nobody listens there or the socket may not be used.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise Unreachable(f"no warden daemon at {path} ({exc.strerror}); "
                              "is it running? (warden server)") from None
        except PermissionError:
            raise Unreachable(f"no permission to use {path}; run as root") from None
        sock.sendall(encode(request))
    except BaseException:
        sock.close()
        raise
    return sock


def call(path: Path, request: Request, timeout: float = 60.0) -> Response:
    """Send ``request`` to the daemon listening on ``path`` and return its response.

    Raises :class:`Unreachable` when nobody listens there, :class:`ProtocolError` when the
    answer is not a valid response.
    """
    sock = send(path, request, timeout)
    try:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                raise Unreachable(f"the daemon at {path} did not answer within {timeout:g}s"
                                  ) from None
            if not chunk:
                raise Unreachable(f"the daemon at {path} closed the connection without answer")
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\n"):
                break
            if size > MAX_LINE:
                raise ProtocolError("the daemon's answer is too long")
        return decode_response(b"".join(chunks))
    finally:
        sock.close()
