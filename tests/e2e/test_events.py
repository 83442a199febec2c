"""``warden events`` against the real daemon: typed lines as things happen, a refusal for an
unknown jail, and a reader that never reads, which must cost the daemon nothing but the events
it is then told it lost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from warden.protocol import EventsRequest, UnbanReply, UnbanRequest, decode_event, encode
from warden.protocol.events import BanEvent, DroppedEvent, FailureEvent, UnbanEvent


@pytest.fixture
def daemon(tmp_path: Path, servers: list[Server]) -> tuple[Server, Path]:
    log = tmp_path / "auth.log"
    log.write_text("")
    server = Server(tmp_path / "warden",
                    f"[sshd]\nenabled = true\nport = ssh\nfilter = sshd\nlogpath = {log}\n",
                    settings=f"metrics = {tmp_path / 'warden' / 'run' / 'metrics.sock'}\n")
    servers.append(server.start())
    return server, log


def _subscribers(server: Server) -> int:
    """``warden_event_subscribers`` from the daemon's /metrics (on a Unix socket)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(os.fspath(server.run / "metrics.sock"))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: warden\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    for line in answer.decode().splitlines():
        if line.startswith("warden_event_subscribers "):
            return int(line.split()[1])
    raise AssertionError(answer[:500])


def _read_json_lines(proc: subprocess.Popen[str], count: int, timeout: float = 20.0
                     ) -> list[dict[str, object]]:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        assert time.monotonic() < deadline, f"only {found} after {timeout}s"
        line = proc.stdout.readline()
        assert line, f"the stream ended after {found}"
        found.append(json.loads(line))
    return found


def test_follow_streams_failures_bans_and_unbans(daemon: tuple[Server, Path]) -> None:
    server, log = daemon
    proc = subprocess.Popen(server.argv("events", "--follow", "--json", "sshd"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the subscription is in place once the daemon counts a reader
        wait_for("the reader to subscribe", lambda: _subscribers(server) == 1, 10.0, 0.05)
        append(log, "".join(failure_line("192.0.2.7") for _ in range(3)))
        first = _read_json_lines(proc, 4)
        assert server.call(UnbanRequest("sshd", ("192.0.2.7",))) == UnbanReply(1)
        first += _read_json_lines(proc, 1)
    finally:
        proc.terminate()
        proc.wait(10)
    events = [decode_event(json.dumps(e)) for e in first]
    assert all(e["v"] == 1 for e in first)
    assert [e.kind for e in events] == ["failure", "failure", "failure", "ban", "unban"]
    assert all(isinstance(e, FailureEvent) and e.addr == "192.0.2.7" and e.jail == "sshd"
               for e in events[:3])
    ban, unban = events[3], events[4]
    assert isinstance(ban, BanEvent) and isinstance(unban, UnbanEvent)
    assert (ban.addr, ban.cause, ban.failures, ban.count, ban.bantime) == \
        ("192.0.2.7", "local", 3, 1, 3600.0)
    assert ban.until is not None and abs(ban.until - (ban.time + 3600)) < 5
    assert (unban.addr, unban.cause) == ("192.0.2.7", "manual")
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_recent_events_without_follow_and_refusals(daemon: tuple[Server, Path]) -> None:
    server, log = daemon
    append(log, "".join(failure_line("198.51.100.4") for _ in range(3)))
    wait_for("the ban", lambda: server.banned("sshd").get("198.51.100.4"))
    done = server.cli("events")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines  # no reader wanted failures: only the ban was kept
    assert " ban " in lines[0] and "sshd 198.51.100.4 for 1h (ban #1, 3 failures, local)" \
        in lines[0]
    unknown = server.cli("events", "nosuch")
    assert unknown.returncode == 2
    assert "the jail 'nosuch' does not exist (jails: sshd)" in unknown.stderr
    bad = server.cli("events", "--kind", "bogus")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_a_reader_that_never_reads_does_not_hold_up_bans(daemon: tuple[Server, Path]) -> None:
    server, log = daemon
    addrs = [f"2001:db8::1:{i:x}" for i in range(3000)]
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stuck.connect(os.fspath(server.socket))
        stuck.sendall(encode(EventsRequest(follow=True)))
        wait_for("the stuck reader to subscribe", lambda: _subscribers(server) == 1, 10.0,
                 0.05)
        append(log, "".join(failure_line(a) for a in addrs for _ in range(3)))
        # the daemon bans every address while this reader reads nothing at all
        wait_for("3000 bans", lambda: len(server.banned("sshd")) == len(addrs), 60.0, 0.2)
        assert server.cli("ping").returncode == 0
        # now read: what the reader got plus what it is told it lost is everything
        published = 4 * len(addrs)  # three failures and a ban per address
        stuck.settimeout(20.0)
        stream = stuck.makefile("rb")
        received = 0
        dropped = 0
        while received + dropped < published:
            line = stream.readline()
            assert line, f"stream ended at {received} received, {dropped} dropped"
            event = decode_event(line)
            if isinstance(event, DroppedEvent):
                assert event.dropped > dropped
                dropped = event.dropped
            else:
                received += 1
        assert dropped > 0
        assert received + dropped == published
    finally:
        stuck.close()


def test_a_followed_stream_ends_when_the_daemon_stops(daemon: tuple[Server, Path]) -> None:
    server, _log = daemon
    proc = subprocess.Popen(server.argv("events", "--follow"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the reader to subscribe", lambda: _subscribers(server) == 1, 10.0, 0.05)
        assert server.stop() == 0
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "the daemon ended the stream" in err
