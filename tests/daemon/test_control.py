"""The control server with the real client over a real Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.cli.client import Unreachable, call
from warden.daemon.control import ControlServer, SocketInUse
from warden.protocol import (
    BanReply,
    BanRequest,
    FailedReply,
    PingRequest,
    PongReply,
    Request,
    Response,
    StatusRequest,
    decode_response,
    encode,
)
from warden.protocol.codec import MAX_REQUEST


async def _handler(request: Request) -> Response:
    if isinstance(request, PingRequest):
        return PongReply()
    if isinstance(request, BanRequest):
        return BanReply(request.jail, request.addrs)
    raise RuntimeError("boom")


class _Loop:
    """An event loop in a thread serving the control socket, so the blocking client can run."""

    def __init__(self, path: Path, **limits: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = ControlServer(path, _handler, **limits)  # type: ignore[arg-type]
        started = threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.server.start())
            except BaseException as exc:
                self.error = exc
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def close(self) -> None:
        if self.error is None:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, _Loop]]:
    path = tmp_path / "run" / "warden.sock"
    loop = _Loop(path)
    try:
        assert loop.error is None
        yield path, loop
    finally:
        loop.close()


def test_socket_is_0600_and_answers(served: tuple[Path, _Loop]) -> None:
    path, _ = served
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert call(path, PingRequest()) == PongReply()
    assert call(path, BanRequest("sshd", ("192.0.2.1",))) == BanReply("sshd", ("192.0.2.1",))


def test_bad_lines_and_handler_errors_are_answered(served: tuple[Path, _Loop]) -> None:
    path, _ = served
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.fspath(path))
        stream = sock.makefile("rwb")
        for line in (b"garbage\n", b'{"v": 9, "kind": "ping"}\n', encode(StatusRequest("x")),
                     encode(PingRequest())):
            stream.write(line)
            stream.flush()
            answers = decode_response(stream.readline())
            if line == encode(PingRequest()):
                assert answers == PongReply()
            else:
                assert isinstance(answers, FailedReply)
        assert "malformed" in _failed(stream, b"garbage\n").message
        assert _failed(stream, encode(StatusRequest("x"))).message == "internal error: boom"


def _failed(stream: io.BufferedRWPair, line: bytes) -> FailedReply:
    stream.write(line)
    stream.flush()
    answer = decode_response(stream.readline())
    assert isinstance(answer, FailedReply)
    return answer


def test_second_server_on_a_live_socket_is_refused(served: tuple[Path, _Loop]) -> None:
    path, _ = served
    other = _Loop(path)
    try:
        assert isinstance(other.error, SocketInUse)
    finally:
        other.close()
    assert call(path, PingRequest()) == PongReply()


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(os.fspath(path))
    dead.close()  # the file stays, nobody listens
    with pytest.raises(Unreachable):
        call(path, PingRequest())
    loop = _Loop(path)
    try:
        assert loop.error is None
        assert call(path, PingRequest()) == PongReply()
    finally:
        loop.close()
    assert not path.exists()


def test_unreachable_when_nothing_is_there(tmp_path: Path) -> None:
    with pytest.raises(Unreachable, match="is it running"):
        call(tmp_path / "none.sock", PingRequest())


def _connect(path: Path, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    sock.connect(os.fspath(path))
    return sock


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def test_idle_connection_is_closed_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    loop = _Loop(path, idle_timeout=0.3)
    try:
        with _connect(path) as idle, _connect(path) as busy:
            started = time.monotonic()
            stream = busy.makefile("rwb")
            # a connection that keeps talking is not idle, however long it lives
            while time.monotonic() - started < 1.0:
                stream.write(encode(PingRequest()))
                stream.flush()
                assert decode_response(stream.readline()) == PongReply()
                time.sleep(0.1)
            assert idle.recv(100) == b""  # closed by the server, long before the 10 s timeout
            assert time.monotonic() - started < 5.0
    finally:
        loop.close()


def test_client_that_never_reads_its_answers_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    loop = _Loop(path, idle_timeout=0.5)
    try:
        with _connect(path) as sock:
            request = encode(BanRequest("sshd", tuple(f"2001:db8::{i:x}" for i in range(2000))))
            sock.setblocking(False)
            sent = 0
            with contextlib.suppress(BlockingIOError):
                for _ in range(1000):  # until the server stops reading: its buffers are full
                    sent += sock.send(request)
            assert sent < 1000 * len(request)
            sock.settimeout(10)
            answers = _read_to_eof(sock)  # ends: the server hung up after the timeout
        # only what fits in the buffers was answered, not a thousand requests
        assert 0 < answers.count(b"\n") < 100
    finally:
        loop.close()


def test_deeply_nested_json_is_a_usage_error_and_the_connection_stays(
        served: tuple[Path, _Loop]) -> None:
    path, _ = served
    with _connect(path) as sock:
        stream = sock.makefile("rwb")
        answer = _failed(stream, b"[" * 100_000 + b"]" * 100_000 + b"\n")
        assert (answer.reason, answer.message) == ("usage", "malformed message: nested too deeply")
        stream.write(encode(PingRequest()))
        stream.flush()
        assert decode_response(stream.readline()) == PongReply()


def test_request_without_newline_is_cut_at_the_limit(served: tuple[Path, _Loop]) -> None:
    path, _ = served
    with _connect(path) as sock:
        def flood() -> None:
            with contextlib.suppress(OSError):  # the server hangs up while we still send
                sock.sendall(b"x" * (MAX_REQUEST + (1 << 20)))
        sender = threading.Thread(target=flood)
        sender.start()
        answer = sock.makefile("rb").readline()
        sender.join(10)
        assert decode_response(answer) == FailedReply("request too long", "usage")
